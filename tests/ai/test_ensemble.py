"""Several networks as one (ichviewer.ai.ensemble): the viewer scores the mean of the
members' label maps, from one map, so the heatmap is still the map the score comes from."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ichviewer.ai.checkpoint import load_checkpoint, save_checkpoint
from ichviewer.ai.fastpath import inference_copy
from ichviewer.ai.network import build_model, check_arch, ensemble_of
from ichviewer.ai.predictor import Predictor
from ichviewer.ai.preprocess import preprocess_batch
from ichviewer.ai.quantize import TraceableFeatures, int8_available
from ichviewer.errors import ModelLoadError
from tests.ai.conftest import TINY, head_slice, randomise_norms, tiny_model

CARD = {"name": "pair", "training_data": "synthetic phantoms", "command": "pytest"}


def _x(n: int = 3) -> torch.Tensor:
    torch.manual_seed(5)
    return torch.randn(n, 3, 64, 64)


def _lse_model(seed: int):
    torch.manual_seed(seed)
    return randomise_norms(build_model("densenet", pool="lse", **TINY))


def test_the_label_maps_are_the_mean_of_the_members_maps():
    a, b, c = _lse_model(0), _lse_model(1), _lse_model(2)
    ens = ensemble_of([a, b, c]).eval()
    with torch.inference_mode():
        maps = [m(_x(), maps=True)[1] for m in (a, b, c)]
        logits, ens_maps = ens(_x(), maps=True)
    torch.testing.assert_close(ens_maps, sum(maps) / 3, atol=1e-5, rtol=1e-5)
    # the probability is pooled from that very map (log-sum-exp), as for one network
    torch.testing.assert_close(logits, ens._lse(ens_maps))
    assert ens.arch_kwargs["members"] == 3 and ens.pool == "lse"


def test_with_the_average_pool_the_logits_are_the_members_mean():
    torch.manual_seed(0)
    a, b = (build_model("densenet", **TINY).eval() for _ in range(2))
    ens = ensemble_of([a, b]).eval()
    with torch.inference_mode():
        torch.testing.assert_close(ens(_x()), (a(_x()) + b(_x())) / 2, atol=1e-5, rtol=1e-5)


def test_members_must_share_one_architecture():
    other = build_model("densenet", growth_rate=8, block_config=(2, 3), num_init_features=16)
    with pytest.raises(ValueError, match="share one architecture"):
        ensemble_of([tiny_model(0), other])
    with pytest.raises(ValueError, match="at least two"):
        ensemble_of([tiny_model(0)])


@pytest.mark.parametrize("members", [0, 9, "2", True])
def test_a_bad_member_count_is_refused_by_name(members):
    with pytest.raises(ValueError, match="members"):
        check_arch("densenet", {**TINY, "members": members})


@pytest.fixture()
def pair_ckpt(tmp_path, tiny_spec):
    path = tmp_path / "pair.pt"
    ens = ensemble_of([tiny_model(0), tiny_model(1)])
    save_checkpoint(path, ens, tiny_spec, [0.5] * 6, CARD, mirror_average=True)
    return path


def test_the_viewer_loads_and_scores_an_ensemble_checkpoint(pair_ckpt, tiny_spec, tmp_path):
    slices = [head_slice(seed=i) for i in range(4)]
    pred = Predictor(pair_ckpt, device="cpu", precision="fp32")
    results = pred.predict(slices, want_cam=True)
    singles = []
    for seed in (0, 1):
        path = tmp_path / f"m{seed}.pt"
        save_checkpoint(path, tiny_model(seed), tiny_spec, [0.5] * 6, CARD, mirror_average=True)
        singles.append(Predictor(path, device="cpu", precision="fp32").predict(slices))
    probs = np.stack([r.probabilities for r in results])
    lo = np.minimum(*(np.stack([r.probabilities for r in s]) for s in singles))
    hi = np.maximum(*(np.stack([r.probabilities for r in s]) for s in singles))
    # the mean of two maps pools to a score between the members' (log-sum-exp is convex)
    assert np.all(probs >= lo - 1e-4) and np.all(probs <= hi + 1e-4)
    assert np.abs(probs - np.stack([r.probabilities for r in singles[0]])).max() > 1e-3
    # the heatmap is the ensemble's own map (mirror-averaged, as the file asks)
    model = load_checkpoint(pair_ckpt).model
    x = preprocess_batch(slices[:1], tiny_spec)
    with torch.inference_mode():
        logits, maps = model(x, maps=True, mirror=True)
    assert results[0].cams is not None and results[0].cams.shape[0] == 6
    assert pred.describe()["members"] == 2
    np.testing.assert_allclose(probs[0], torch.sigmoid(logits).numpy()[0], atol=1e-5)
    np.testing.assert_allclose(logits.numpy()[0], maps.mean((2, 3)).numpy()[0], atol=1e-5)


def test_a_file_missing_a_members_weights_is_refused_by_name(tmp_path, tiny_spec):
    path = tmp_path / "half.pt"
    ens = ensemble_of([tiny_model(0), tiny_model(1)])
    save_checkpoint(path, ens, tiny_spec, [0.5] * 6, CARD)
    obj = torch.load(path, weights_only=True)
    obj["state_dict"] = {
        k: v for k, v in obj["state_dict"].items() if not k.startswith("features.parts.1.")
    }
    torch.save(obj, path)
    with pytest.raises(ModelLoadError, match=r"half\.pt.*missing: features\.parts\.1\."):
        load_checkpoint(path)


def test_the_fast_paths_rewrite_every_member():
    ens = ensemble_of([tiny_model(0), tiny_model(1)]).eval()
    fast = inference_copy(ens)
    for part in fast.net.features.parts:
        assert isinstance(part.norm0, torch.nn.Identity)  # each stem's norm folded
    with torch.inference_mode():
        torch.testing.assert_close(fast(_x()), ens(_x()), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(
            TraceableFeatures(fast)(_x()), fast.features(_x()), atol=1e-5, rtol=1e-5
        )


@pytest.mark.skipif(not int8_available(), reason="this torch has no x86 quantised engine")
def test_int8_quantises_every_member(pair_ckpt):
    pred = Predictor(pair_ckpt, device="cpu", precision="int8")
    assert pred.precision == "int8"  # it passed the agreement check against fp32 at load


def test_the_model_information_says_it_is_an_ensemble(pair_ckpt, tiny_ckpt):
    from ichviewer.ai.engine import ModelInfo
    from ichviewer.ui.model_panel import model_summary_html

    pair = model_summary_html(ModelInfo.from_predictor(Predictor(pair_ckpt, device="cpu")))
    assert "<b>Ensemble</b>" in pair and "mean of 2 networks" in pair
    single = model_summary_html(ModelInfo.from_predictor(Predictor(tiny_ckpt, device="cpu")))
    assert "Ensemble" not in single
