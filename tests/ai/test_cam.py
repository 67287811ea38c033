"""Class activation maps are exact and come from the pass that gave the probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ichviewer.ai.cam import class_activation_maps, normalise_maps
from ichviewer.ai.checkpoint import load_checkpoint, save_checkpoint
from ichviewer.ai.network import build_model
from ichviewer.ai.predictor import Predictor
from ichviewer.ai.preprocess import preprocess_batch
from tests.ai.conftest import TINY, head_slice, randomise_norms


def _hand_cam(feats: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """ReLU(sum_k w_ck F_k), written out with loops over labels and maps."""
    n_labels, n_maps = weight.shape
    out = np.zeros((n_labels, *feats.shape[1:]), dtype=np.float64)
    for c in range(n_labels):
        for k in range(n_maps):
            out[c] += float(weight[c, k]) * feats[k].astype(np.float64)
    return np.maximum(out, 0.0)


class TestClassActivationMaps:
    def test_equals_a_hand_computation(self, tiny_ckpt, tiny_spec):
        model = load_checkpoint(tiny_ckpt).model
        x = preprocess_batch([head_slice()], tiny_spec)
        with torch.inference_mode():
            feats = model.features(x)[0]
        weight = model.classifier.weight.detach()
        cams = class_activation_maps(feats, weight)
        assert cams.shape == (6, *feats.shape[1:])
        np.testing.assert_allclose(
            cams.numpy(), _hand_cam(feats.numpy(), weight.numpy()), rtol=1e-5, atol=1e-5
        )
        assert cams.max() > 0

    def test_spatial_mean_plus_bias_is_the_logit(self, tiny_ckpt, tiny_spec):
        model = load_checkpoint(tiny_ckpt).model
        x = preprocess_batch([head_slice(), head_slice(seed=2)], tiny_spec)
        with torch.inference_mode():
            logits, feats = model.forward_features(x)
            pre_relu = torch.einsum("ck,nkhw->nchw", model.classifier.weight, feats)
            np.testing.assert_allclose(
                pre_relu.mean(dim=(2, 3)) + model.classifier.bias, logits, rtol=1e-5, atol=1e-5
            )
            assert torch.equal(logits, model(x))

    def test_upsampled_to_the_slice_and_normalised_on_request(self, tiny_ckpt, tiny_spec):
        model = load_checkpoint(tiny_ckpt).model
        with torch.inference_mode():
            feats = model.features(preprocess_batch([head_slice()], tiny_spec))
        w = model.classifier.weight
        raw = class_activation_maps(feats, w)
        big = class_activation_maps(feats, w, size=(100, 120))
        assert big.shape == (1, 6, 100, 120) and big.min() >= 0
        expected = F.interpolate(raw, size=(100, 120), mode="bilinear", align_corners=False)
        np.testing.assert_allclose(big.numpy(), expected.numpy(), atol=1e-6)
        unit = class_activation_maps(feats, w, size=(100, 120), normalise=True)
        assert float(unit.max()) == 1.0 and float(unit.min()) >= 0.0
        np.testing.assert_allclose(unit.numpy(), normalise_maps(big.numpy()), atol=1e-6)

    def test_all_zero_map_stays_zero_when_normalised(self):
        z = np.zeros((2, 4, 4), np.float32)
        assert not normalise_maps(z).any()


class TestPredictorCams:
    def test_cams_match_hand_computation_at_slice_resolution(self, tiny_ckpt, tiny_spec):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        hu = head_slice(96)
        res = predictor.predict([hu], want_cam=True)[0]
        assert res.cams.shape == (6, 96, 96) and res.cams.dtype == np.float32
        model = load_checkpoint(tiny_ckpt).model
        with torch.inference_mode():
            feats = model.features(preprocess_batch([hu], tiny_spec))[0]
        hand = torch.from_numpy(_hand_cam(feats.numpy(), model.classifier.weight.detach().numpy()))
        hand = F.interpolate(
            hand[None].float(), size=(96, 96), mode="bilinear", align_corners=False
        )[0]
        np.testing.assert_allclose(res.cams, hand.numpy(), rtol=1e-4, atol=1e-4)
        unit = res.cam("any")
        assert unit.max() == 1.0 and unit.shape == (96, 96)
        np.testing.assert_array_equal(res.cam("any", normalised=False), res.cams[5])

    def test_probabilities_with_and_without_cams_are_identical(self, tiny_ckpt):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        slices = [head_slice(seed=i) for i in range(3)]
        with_cam = predictor.predict(slices, want_cam=True)
        without = predictor.predict(slices)
        for a, b in zip(with_cam, without, strict=True):
            np.testing.assert_array_equal(a.probabilities, b.probabilities)
            assert b.cams is None

    def test_float16_cams_on_request(self, tiny_ckpt):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32", cam_dtype=np.float16)
        assert predictor.predict_one(head_slice(), want_cam=True).cams.dtype == np.float16


class TestLogSumExpPool:
    """pool="lse": each label's map is pooled by a smooth maximum, and the CAM stays exact."""

    def _model(self):
        torch.manual_seed(3)
        return randomise_norms(build_model("densenet", pool="lse", **TINY))

    def test_pooled_map_plus_bias_is_the_logit(self, tiny_spec):
        model = self._model()
        x = preprocess_batch([head_slice(), head_slice(seed=2)], tiny_spec)
        with torch.inference_mode():
            logits, feats = model.forward_features(x)
            s = torch.einsum("ck,nkhw->nchw", model.classifier.weight, feats).flatten(2)
            hand = torch.log(torch.exp(s.double()).mean(dim=2)) + model.classifier.bias.double()
            with_maps, maps = model(x, maps=True)  # the training pass gives the same logits
            torch.testing.assert_close(with_maps, logits)
            torch.testing.assert_close(maps.flatten(2), s + model.classifier.bias.view(1, -1, 1))
        np.testing.assert_allclose(logits.numpy(), hand.numpy(), rtol=1e-5, atol=1e-5)

    def test_one_hot_cell_moves_the_score_far_more_than_the_average_does(self):
        avg, lse = build_model("densenet", **TINY), build_model("densenet", pool="lse", **TINY)
        lse.load_state_dict(avg.state_dict())
        feats = torch.zeros(1, avg.num_features, 10, 10)
        hot = feats.clone()
        hot[0, :, 4, 6] = 1.0  # a lesion filling one cell of a 10 x 10 map
        with torch.no_grad():
            avg.classifier.weight.fill_(0.5)
            lse.classifier.weight.fill_(0.5)
            d_avg = (avg.head(hot) - avg.head(feats))[0, 0].item()
            d_lse = (lse.head(hot) - lse.head(feats))[0, 0].item()
        assert d_avg == pytest.approx(0.5 * avg.num_features / 100, rel=1e-5)
        assert d_lse > 10 * d_avg

    def test_checkpoint_round_trip_and_predictor_agree(self, tmp_path, tiny_spec):
        model = self._model()
        path = tmp_path / "lse.pt"
        save_checkpoint(path, model, tiny_spec, [0.5] * 6, {"name": "lse", "command": "pytest"})
        loaded = load_checkpoint(path)
        assert loaded.arch_kwargs["pool"] == "lse" and loaded.model.pool == "lse"
        x = preprocess_batch([head_slice()], tiny_spec)
        with torch.inference_mode():
            expected = torch.sigmoid(model(x))[0].numpy()
        res = Predictor(path, device="cpu", precision="fp32").predict_one(head_slice())
        np.testing.assert_allclose(res.probabilities, expected, rtol=1e-4, atol=1e-5)

    def test_unknown_pool_is_refused_by_name(self):
        with pytest.raises(ValueError, match="pool must be one of avg, lse"):
            build_model("densenet", pool="max", **TINY)
