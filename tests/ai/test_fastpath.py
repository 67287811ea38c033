"""The inference rewrite of the DenseNet changes nothing but float rounding."""

from __future__ import annotations

import pytest
import torch

from ichviewer.ai.fastpath import PoolFirstTransition, inference_copy
from ichviewer.ai.network import build_model
from tests.ai.conftest import randomise_norms, tiny_model


def _randomise_norms(model):
    torch.manual_seed(1)
    return randomise_norms(model)


class TestInferenceCopy:
    @pytest.mark.parametrize("side", [64, 76])  # 76: odd maps reach a transition's pooling
    def test_same_features_and_logits_as_the_checkpoint_network(self, side):
        model = tiny_model()
        fast = inference_copy(model)
        x = torch.randn(2, 3, side, side)
        with torch.inference_mode():
            ref_logits, ref_feats = model.forward_features(x)
            logits, feats = fast.forward_features(x)
        torch.testing.assert_close(feats, ref_feats, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
        assert any(isinstance(m, PoolFirstTransition) for m in fast.modules())
        assert not any(isinstance(m, PoolFirstTransition) for m in model.modules())

    def test_densenet121_structure(self):
        model = _randomise_norms(build_model("densenet121"))
        fast = inference_copy(model)
        n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
        assert n_bn == 121 - 1 - 58  # norm0 and every dense layer's norm2 folded
        x = torch.randn(1, 3, 64, 64)
        with torch.inference_mode():
            torch.testing.assert_close(fast(x), model(x), atol=1e-4, rtol=1e-4)
