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
