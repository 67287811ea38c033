"""`python -m training montage`: phantom rows above real-CT rows, windowed like the viewer."""

from __future__ import annotations

import cv2
import numpy as np

from ichviewer.paths import demo_study_path
from training.cli import build_parser
from training.montage import LEVELS, TILE


def test_montage_has_a_row_per_study_and_shows_anatomy(tmp_path):
    out = tmp_path / "m.png"
    args = build_parser().parse_args(
        ["montage", "--out", str(out), "--studies", "1", "--real", str(demo_study_path())]
    )
    assert args.func(args) == 0
    img = cv2.imread(str(out))
    assert img.shape == (2 * TILE, len(LEVELS) * TILE, 3)
    for r in range(2):
        centre = img[
            r * TILE + TILE // 3 : r * TILE + 2 * TILE // 3,
            TILE * 2 + TILE // 3 : TILE * 2 + 2 * TILE // 3,
        ]
        # Mid-level brain at 40/80: mostly mid-grey, neither air-black nor bone-white.
        assert 60 < float(np.median(centre)) < 200
