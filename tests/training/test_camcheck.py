"""`python -m training cam-check`: lesion masks line up with the sorted slices and every
slice holding a subtype is scored against its own label's map."""

from __future__ import annotations

import json

import numpy as np

from tests.ai.conftest import tiny_model
from training.camcheck import detection_by_area, lesion_areas, localisation
from training.cli import build_parser


def test_demo_counts_match_its_labels(tmp_path, capsys):
    from ichviewer.ai.checkpoint import save_checkpoint
    from ichviewer.ai.preprocess import PreprocessSpec

    ckpt = tmp_path / "tiny.pt"
    spec = PreprocessSpec(size=64, mode="linear", mean=(0.5,) * 3, std=(0.5,) * 3)
    save_checkpoint(ckpt, tiny_model(), spec, [0.5] * 6, {"name": "tiny"})
    args = build_parser().parse_args(["cam-check", "--model", str(ckpt)])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # resources/demo/README.md: epidural 9 slices, IPH 8, IVH 2, SAH 11, no subdural.
    counts = {lb: v["slices"] for lb, v in summary["labels"].items()}
    assert counts == {
        "epidural": 9,
        "intraparenchymal": 8,
        "intraventricular": 2,
        "subarachnoid": 11,
    }


class _Peak:
    """A stand-in predictor whose maps peak at a given pixel (for the scoring rule)."""

    def __init__(self, at):
        self.at = at

    def predict(self, slices, want_cam=True):
        from ichviewer.ai.results import SliceResult

        out = []
        for hu in slices:
            cams = np.zeros((6, *hu.shape), np.float32)
            cams[:, self.at[0], self.at[1]] = 1.0
            out.append(SliceResult(np.zeros(6, np.float32), cams))
        return out


def test_peak_within_tolerance_counts_as_on_the_lesion():
    hu = np.zeros((1, 100, 100), np.float32)
    masks = np.zeros((1, 100, 100), np.uint8)
    masks[0, 40:50, 40:50] = 1  # epidural (bit 0)
    on = localisation(_Peak((45, 45)).predict(hu), masks, spacing=1.0, tol_mm=5.0)
    near = localisation(_Peak((45, 54)).predict(hu), masks, spacing=1.0, tol_mm=5.0)
    far = localisation(_Peak((45, 70)).predict(hu), masks, spacing=1.0, tol_mm=5.0)
    assert on["epidural"] == [(True, 1.0)]
    assert near["epidural"][0][0] is True
    assert far["epidural"] == [(False, 0.0)]
    assert on["subdural"] == []


def test_detection_by_area_scores_small_and_large_lesions_apart():
    # 3 negative slices, one with a 10 mm2 lesion (scored low), one with 300 mm2 (scored high).
    masks = np.zeros((5, 20, 20), np.uint8)
    masks[3, :2, :5] = 1 << 3  # subarachnoid, 10 px at 1 mm
    masks[4, :15, :20] = 1 << 3  # 300 px
    areas = lesion_areas(masks, spacing=1.0)
    assert areas[3, 3] == 10 and areas[4, 3] == 300 and areas[4, 5] == 300 and areas[4, 0] == 0
    probs = np.zeros((5, 6))
    probs[:, 3] = probs[:, 5] = [0.1, 0.2, 0.3, 0.15, 0.9]
    rows = {r["bin"]: r for r in detection_by_area(probs, areas)["subarachnoid"]}
    # by hand: the small one outranks 1 of 3 negatives, the large one all 3
    assert rows["0-20 mm2"] == {"bin": "0-20 mm2", "positives": 1, "auc": round(1 / 3, 4)}
    assert rows[">=200 mm2"]["auc"] == 1.0
    assert rows["all"] == {"bin": "all", "positives": 2, "auc": round(2 / 3, 4)}
    assert rows["20-60 mm2"]["auc"] is None


def test_data_set_scores_every_labelled_slice_of_a_synth_folder(tmp_path, capsys):
    """`cam-check --data` reads a set written by `synth` (its masks/ by SOPInstanceUID): each
    subtype is scored on exactly the slices labels.csv marks positive."""
    import csv

    from ichviewer.ai.checkpoint import save_checkpoint
    from ichviewer.ai.preprocess import PreprocessSpec
    from training.synthetic import synth

    synth(tmp_path / "set", 2, seed=5, size=64)
    positives: dict[str, int] = {}
    with open(tmp_path / "set" / "labels.csv") as f:
        for row in csv.DictReader(f):
            label = row["ID"].rsplit("_", 1)[1]
            positives[label] = positives.get(label, 0) + int(row["Label"])
    ckpt = tmp_path / "tiny.pt"
    spec = PreprocessSpec(size=64, mode="linear", mean=(0.5,) * 3, std=(0.5,) * 3)
    save_checkpoint(ckpt, tiny_model(), spec, [0.5] * 6, {"name": "tiny"})
    args = build_parser().parse_args(
        ["cam-check", "--model", str(ckpt), "--data", str(tmp_path / "set")]
    )
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    counts = {lb: v["slices"] for lb, v in summary["labels"].items()}
    assert counts == {lb: n for lb, n in positives.items() if lb != "any" and n}
    assert summary["auc_by_lesion_area"]["any"][0]["positives"] == positives["any"]


def test_data_set_without_masks_is_refused_by_name(tmp_path):
    import pytest

    (tmp_path / "empty").mkdir()
    args = build_parser().parse_args(["cam-check", "--data", str(tmp_path / "empty")])
    with pytest.raises(SystemExit, match="empty.*masks"):
        args.func(args)


def test_thickness_tells_a_long_sliver_from_a_blob_of_the_same_area():
    from training.camcheck import lesion_thickness

    masks = np.zeros((2, 40, 40), np.uint8)
    masks[0, 5, 0:36] = 1 << 4  # subdural sliver: 36 px long, 1 px thick
    masks[1, 10:16, 10:16] = 1 << 4  # 36 px square, 6 px across
    areas, thick = lesion_areas(masks, spacing=0.5), lesion_thickness(masks, spacing=0.5)
    assert areas[0, 4] == areas[1, 4] == 9.0  # same area (mm^2)...
    assert thick[0, 4] == 0.5  # ...but the sliver is one 0.5 mm pixel thick
    assert thick[1, 4] == 3.0  # and the square 6 pixels across
    assert thick[0, 5] == thick[0, 4] and thick[0, 0] == 0


def test_worst_lists_lowest_positives_and_highest_negatives_in_order():
    from training.camcheck import worst_slices

    areas = np.zeros((5, 6))
    areas[[1, 3], 3] = areas[[1, 3], 5] = [30.0, 200.0]  # slices 1 and 3 hold SAH
    probs = np.zeros((5, 6))
    probs[:, 5] = [0.1, 0.05, 0.7, 0.9, 0.3]
    probs[2, 0] = 0.6  # the top false alarm calls it epidural
    thick = np.where(areas > 0, 2.0, 0.0)
    where = [("s", i) for i in range(5)]
    w = worst_slices(probs, areas, thick, where, 2)
    assert [r["slice"] for r in w["missed_positives"]] == [1, 3]
    assert w["missed_positives"][0]["lesions"] == {
        "subarachnoid": {"area_mm2": 30.0, "thickness_mm": 2.0}
    }
    assert [r["slice"] for r in w["false_alarms"]] == [2, 4]
    assert w["false_alarms"][0]["top_subtype"] == {"epidural": 0.6}
