"""`python -m training realct-check`: the real-CT checks, scored as the app scores."""

from __future__ import annotations

import json

import pytest

from tests.conftest import realct


@pytest.mark.slow
def test_realct_check_reports_every_check(tmp_path, capsys):
    from ichviewer.ai.checkpoint import save_checkpoint
    from ichviewer.ai.preprocess import PreprocessSpec
    from tests.ai.conftest import tiny_model
    from training import realcheck

    root = realct("ge_head").parent
    spec = PreprocessSpec(size=64, mode="linear", mean=(0.3, 0.3, 0.2), std=(0.3, 0.3, 0.2))
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, tiny_model(), spec, [0.5] * 6, {"name": "t"}, mirror_average=True)
    out = tmp_path / "rc.json"
    args = realcheck.get_args_parser().parse_args(
        ["--model", str(ckpt), "--realct", str(root), "--out", str(out)]
    )
    r = realcheck.main(args)
    assert json.loads(out.read_text()) == json.loads(json.dumps(r))
    assert r["ge_head"]["slices"] == r["ge_head_mirrored"]["slices"] == 28
    assert r["rsna_samples"]["slices"] == 20 and r["normal_48"]["slices"] == 48
    assert r["cq500_ct0"]["slices"] == 238
    # mirror averaging: the mirrored study gets the same answer
    assert r["ge_head_mirror_any_flag_differences"] == 0
    assert r["ge_head_mirror_max_abs_delta_p_any"] < 1e-3
    assert len(r["rsna_positives"]["slices_detail"]) == 6
    assert r["chest_ct"]["in_scope"] is False and r["chest_ct"]["flagged"] == 0
    printed = capsys.readouterr().out
    assert "48 believed-normal slices" in printed and "chest CT: in scope False" in printed


def test_an_epoch_checkpoint_is_scored_at_the_given_threshold(tmp_path):
    """realct-check on a training checkpoint.pth (one epoch of a run, for an ablation): it is
    exported with mirror averaging and --threshold for every label and the study."""
    import torch

    from ichviewer.ai.checkpoint import load_checkpoint
    from ichviewer.ai.preprocess import PreprocessSpec
    from tests.ai.conftest import TINY, tiny_model
    from training import realcheck

    model = tiny_model()
    state = {
        "model": model.state_dict(),
        "epoch": 2,
        "arch": "densenet",
        "arch_kwargs": TINY,
        "preprocess": PreprocessSpec(size=64, mode="linear").to_dict(),
    }
    src = tmp_path / "checkpoint.pth"
    torch.save(state, src)
    with pytest.raises(SystemExit, match="training checkpoint: give --threshold"):
        realcheck._viewer_checkpoint(src, tmp_path, None)
    ck = load_checkpoint(realcheck._viewer_checkpoint(src, tmp_path, 0.4))
    assert ck.mirror_average and ck.context is None
    assert set(ck.thresholds.values()) == {0.4} and ck.study_threshold == 0.4
    assert "epoch 2" in ck.name
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(ck.model(x), model(x))
    viewer = tmp_path / "viewer.pt"
    viewer.write_bytes((tmp_path / "epoch.pt").read_bytes())
    assert realcheck._viewer_checkpoint(viewer, tmp_path / "x", None) == viewer


def test_shift_hu_scores_the_scans_of_a_scanner_calibrated_higher(tmp_path):
    """--shift-hu: every image is scored as if each pixel read that many HU more, so an
    ablation can show how much the calls hang on calibration."""
    import numpy as np

    from ichviewer.ai.checkpoint import save_checkpoint
    from ichviewer.ai.predictor import Predictor, phantom_slices
    from ichviewer.ai.preprocess import PreprocessSpec
    from tests.ai.conftest import tiny_model
    from training import realcheck

    spec = PreprocessSpec(size=64, mode="linear", mean=(0.3, 0.3, 0.2), std=(0.3, 0.3, 0.2))
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, tiny_model(), spec, [0.5] * 6, {"name": "t"})
    h = phantom_slices(1, size=64)[0]
    plain = Predictor(ckpt, device="cpu", precision="fp32")
    shifted = realcheck._shifted(Predictor(ckpt, device="cpu", precision="fp32"), 20.0)
    p0 = plain.predict([h])[0].probabilities
    p20 = plain.predict([h + 20.0])[0].probabilities
    got = shifted.predict([h])[0].probabilities
    assert np.allclose(got, p20, atol=1e-6)
    assert not np.allclose(got, p0, atol=1e-4)
    args = realcheck.get_args_parser().parse_args(["--shift-hu", "-8"])
    assert args.shift_hu == -8.0
