"""int8 features: the traceable restatement is exact, int8 runs only when it agrees with fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ichviewer.ai.predictor as predictor_mod
import ichviewer.ai.quantize as quantize_mod
from ichviewer.ai.fastpath import inference_copy
from ichviewer.ai.predictor import AGREEMENT_TOLERANCE, Predictor
from ichviewer.ai.quantize import TraceableFeatures, int8_available
from tests.ai.conftest import tiny_model

pytestmark = pytest.mark.skipif(not int8_available(), reason="no x86 quantised engine")


def _head(seed: int) -> np.ndarray:
    return predictor_mod.phantom_slices(1, 96, seed=seed)[0]


class TestTraceableFeatures:
    def test_same_features_as_the_inference_copy(self):
        fast = inference_copy(tiny_model())
        x = torch.randn(2, 3, 64, 64)
        with torch.inference_mode():
            torch.testing.assert_close(
                TraceableFeatures(fast)(x), fast.features(x), atol=1e-5, rtol=1e-5
            )


class TestInt8Predictor:
    def test_int8_agrees_with_fp32_and_gives_cams(self, tiny_ckpt):
        checks = predictor_mod.phantom_slices(3, 64)  # the int8 path itself, on easy slices
        predictor = Predictor(tiny_ckpt, device="cpu", precision="int8", check_slices=checks)
        if predictor.precision != "int8":
            assert predictor.agreement_delta > AGREEMENT_TOLERANCE  # refused for a reason
            pytest.skip("int8 disagrees on this model here; the fallback is what is tested")
        assert predictor.agreement_delta <= AGREEMENT_TOLERANCE
        fp32 = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        slices = [_head(s) for s in (5, 6)]
        got = predictor.predict(slices, want_cam=True)
        ref = fp32.predict(slices)
        for a, b in zip(got, ref, strict=True):
            assert np.abs(a.probabilities - b.probabilities).max() <= 2 * AGREEMENT_TOLERANCE
            assert a.cams is not None and a.cams.shape == (6, 96, 96)

    def test_refused_when_it_disagrees(self, tiny_ckpt, monkeypatch):
        monkeypatch.setattr(predictor_mod, "AGREEMENT_TOLERANCE", -1.0)
        monkeypatch.setattr(predictor_mod, "cpu_bf16_supported", lambda: False)
        predictor = Predictor(tiny_ckpt, device="cpu", precision="auto")
        assert predictor.precision == "fp32"

    def test_falls_back_when_quantisation_fails(self, tiny_ckpt, monkeypatch):
        def broken(*_a, **_k):
            raise RuntimeError("no quantised kernels")

        monkeypatch.setattr(quantize_mod, "quantize_features", broken)
        monkeypatch.setattr(predictor_mod, "cpu_bf16_supported", lambda: True)
        assert Predictor(tiny_ckpt, device="cpu", precision="auto").precision == "bf16"
        assert Predictor(tiny_ckpt, device="cpu", precision="int8").precision == "fp32"

    def test_fp32_asked_for_is_fp32(self, tiny_ckpt):
        assert Predictor(tiny_ckpt, device="cpu", precision="fp32").precision == "fp32"


def test_the_default_check_includes_scanner_like_slices():
    """The bundled model's int8 features agreed on the simple phantoms and not on real-looking
    CT: the default check adds evenly spaced slices of the demo study, skull base to vertex."""
    from ichviewer import paths

    if not paths.demo_study_path().is_dir():
        pytest.skip("demo study not installed")
    demo = predictor_mod.demo_check_slices(10)
    assert len(demo) == 10
    bony = [float((s > 300).mean()) for s in demo]
    assert max(bony) > 0.05 and min(bony) < max(bony) / 2  # skull base and higher slices
