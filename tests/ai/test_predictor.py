"""Predictor: probabilities per slice, device and precision choices the user can rely on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ichviewer.ai.predictor as predictor_mod
from ichviewer.ai.checkpoint import load_checkpoint
from ichviewer.ai.predictor import AGREEMENT_TOLERANCE, Predictor, default_threads
from ichviewer.ai.preprocess import preprocess_batch
from ichviewer.errors import IchViewerError, ModelLoadError
from tests.ai.conftest import head_slice


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class TestPredict:
    def test_probabilities_match_the_model(self, tiny_ckpt, tiny_spec):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32", batch_size=2)
        slices = [head_slice(seed=i) for i in range(5)]
        results = predictor.predict(slices)
        assert len(results) == 5
        probs = np.stack([r.probabilities for r in results])
        assert probs.dtype == np.float32 and probs.shape == (5, 6)
        model = load_checkpoint(tiny_ckpt).model
        with torch.inference_mode():
            expected = torch.sigmoid(model(preprocess_batch(slices, tiny_spec))).numpy()
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        assert np.ptp(probs, axis=0).max() > 1e-3  # the slices are told apart
        assert set(results[0].as_dict()) == set(predictor.labels)

    def test_batching_does_not_change_results(self, tiny_ckpt):
        slices = [head_slice(seed=i) for i in range(4)]
        one = Predictor(tiny_ckpt, device="cpu", precision="fp32", batch_size=1).predict(slices)
        four = Predictor(tiny_ckpt, device="cpu", precision="fp32", batch_size=4).predict(slices)
        for a, b in zip(one, four, strict=True):
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)

    def test_flagged_labels_follow_the_thresholds(self, tiny_ckpt):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        res = predictor.predict_one(head_slice())
        expected = [lb for lb, p in res.as_dict().items() if p >= 0.5]
        assert predictor.flagged_labels(res.probabilities) == expected
        assert res.flagged_labels(predictor.checkpoint.thresholds) == expected


class TestDeviceAndThreads:
    def test_auto_is_cpu_without_a_gpu(self, tiny_ckpt, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        predictor = Predictor(tiny_ckpt)
        assert predictor.device.type == "cpu"
        assert next(predictor.model.parameters()).device.type == "cpu"

    def test_cuda_without_gpu_is_a_clear_error(self, tiny_ckpt, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(IchViewerError, match="no CUDA GPU"):
            Predictor(tiny_ckpt, device="cuda")

    def test_leaves_a_core_for_the_ui(self, tiny_ckpt):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        assert predictor.threads == default_threads() == torch.get_num_threads()
        Predictor(tiny_ckpt, device="cpu", precision="fp32", threads=1)
        assert torch.get_num_threads() == 1

    def test_bad_checkpoint_raises_model_load_error(self, tmp_path):
        bad = tmp_path / "bad.pt"
        bad.write_bytes(b"not a model")
        with pytest.raises(ModelLoadError, match="bad.pt"):
            Predictor(bad)


class TestPrecision:
    def test_fp32_when_asked(self, tiny_ckpt):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        assert predictor.precision == "fp32" and predictor.agreement_delta is None

    def test_bf16_used_when_it_agrees_with_fp32(self, tiny_ckpt):
        predictor = Predictor(tiny_ckpt, device="cpu", precision="bf16")
        assert predictor.agreement_delta is not None
        assert predictor.agreement_delta <= AGREEMENT_TOLERANCE
        assert predictor.precision == "bf16"
        fp32 = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        slices = [head_slice(seed=i) for i in range(3)]
        for a, b in zip(predictor.predict(slices), fp32.predict(slices), strict=True):
            assert np.abs(a.probabilities - b.probabilities).max() <= AGREEMENT_TOLERANCE

    def test_falls_back_to_fp32_on_a_large_delta(self, tiny_ckpt, monkeypatch):
        real_forward = Predictor._forward

        def skewed(self, x, dtype, want_features, **kw):
            probs, feats = real_forward(self, x, dtype, want_features, **kw)
            if dtype is not None:  # pretend low precision is badly off
                probs = np.clip(probs + 0.3, 0, 1)
            return probs, feats

        monkeypatch.setattr(predictor_mod, "cpu_bf16_supported", lambda: True)
        monkeypatch.setattr(Predictor, "_forward", skewed)
        predictor = Predictor(tiny_ckpt, device="cpu", precision="auto")
        assert predictor.precision == "fp32"
        assert predictor.agreement_delta > AGREEMENT_TOLERANCE
        reference = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        hu = head_slice()
        np.testing.assert_array_equal(
            predictor.predict_one(hu).probabilities, reference.predict_one(hu).probabilities
        )

    def test_auto_follows_the_cpu_capability(self, tiny_ckpt, monkeypatch):
        import ichviewer.ai.quantize as quantize_mod

        monkeypatch.setattr(quantize_mod, "int8_available", lambda: False)  # int8 comes first
        monkeypatch.setattr(predictor_mod, "cpu_bf16_supported", lambda: False)
        assert Predictor(tiny_ckpt, device="cpu").precision == "fp32"
        monkeypatch.setattr(predictor_mod, "cpu_bf16_supported", lambda: True)
        assert Predictor(tiny_ckpt, device="cpu").precision == "bf16"

    def test_describe_reports_what_runs(self, tiny_ckpt):
        info = Predictor(tiny_ckpt, device="cpu", precision="fp32").describe()
        assert info["device"] == "cpu" and info["precision"] == "fp32" and info["input_size"] == 64


class TestMirrorAverage:
    """A checkpoint asking for mirror-averaged scoring gives a study and its left-right
    mirror the same probabilities, and mirror-image heatmaps."""

    @pytest.fixture()
    def mirror_ckpt(self, tmp_path, tiny_spec):
        from tests.ai.conftest import _save_tiny

        return _save_tiny(tmp_path / "m.pt", tiny_spec, "mirror", mirror_average=True)

    def test_mirrored_slice_scores_the_same(self, mirror_ckpt, tiny_ckpt):
        hu = head_slice(seed=3)
        hu[30:40, 20:28] = 75.0  # a bright blob on one side only
        flipped = hu[:, ::-1].copy()
        sym = Predictor(mirror_ckpt, device="cpu", precision="fp32")
        a, b = sym.predict([hu, flipped], want_cam=True)
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
        np.testing.assert_allclose(a.cams, b.cams[:, :, ::-1], atol=1e-4)
        plain = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        pa, pb = (r.probabilities for r in plain.predict([hu, flipped]))
        assert np.abs(pa - pb).max() > 1e-3  # without it the sides differ
        assert sym.describe()["mirror_average"] is True

    def test_it_is_the_mean_of_both_views_features(self, mirror_ckpt):
        sym = Predictor(mirror_ckpt, device="cpu", precision="fp32")
        model = load_checkpoint(mirror_ckpt).model
        hu = head_slice(seed=4)
        x = preprocess_batch([hu], sym.spec)
        with torch.inference_mode():
            f = 0.5 * (model.features(x) + torch.flip(model.features(torch.flip(x, (-1,))), (-1,)))
            expected = torch.sigmoid(model.head(f)).numpy()[0]
        np.testing.assert_allclose(sym.predict_one(hu).probabilities, expected, atol=1e-5)
