"""`python -m training cam-check`: lesion masks line up with the sorted slices and every
slice holding a subtype is scored against its own label's map."""

from __future__ import annotations

import json

import numpy as np

from tests.ai.conftest import tiny_model
from training.camcheck import localisation
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
    on = localisation(_Peak((45, 45)), hu, masks, spacing=1.0, tol_mm=5.0)
    near = localisation(_Peak((45, 54)), hu, masks, spacing=1.0, tol_mm=5.0)
    far = localisation(_Peak((45, 70)), hu, masks, spacing=1.0, tol_mm=5.0)
    assert on["epidural"] == [(True, 1.0)]
    assert near["epidural"][0][0] is True
    assert far["epidural"] == [(False, 0.0)]
    assert on["subdural"] == []
