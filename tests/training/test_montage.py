"""`python -m training montage`: phantom rows above real-CT rows, windowed like the viewer."""

from __future__ import annotations

import json

import cv2
import numpy as np

from ichviewer.paths import demo_study_path
from training.cli import build_parser
from training.montage import LEVELS, RIM_BINS_MM, TILE, rim_profile, rim_share


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


def _ring(size: int = 192, rim_px: int = 3, gap: bool = False) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    hu = np.full((size, size), -1000.0, np.float32)
    hu[r < 88] = 1500.0  # skull, 8 px thick
    hu[r < 80] = 30.0  # brain
    hu[(r < 80) & (r >= 80 - rim_px)] = 70.0  # a bright rim against the inner table
    if gap:
        hu[(np.abs(xx) < 3) & (yy < 0)] = 30.0  # the ring is cut: no closed cavity
    return hu


def test_rim_profile_reads_a_bright_rim_by_distance_from_the_inner_table():
    ps = 1.2
    p = rim_profile(_ring(rim_px=3), ps)  # rim 3.6 mm deep
    assert len(p) == len(RIM_BINS_MM) - 1
    assert p[0] == 70 and p[1] == 70  # 0-1.5 and 1.5-3 mm: inside the rim
    assert np.all(p[3:] == 30)  # from 4.5 mm on: brain
    plain = rim_profile(_ring(rim_px=0), ps)
    assert np.all(plain == 30)
    assert rim_profile(_ring(gap=True), ps) is None  # no closed skull
    assert rim_profile(_ring(), 0.2) is None  # cavity too small to be a brain slice


def test_rim_share_counts_the_blood_like_rim_next_to_the_table():
    """The share of the 0-6 mm rim at 55-110 HU: a 3.6 mm bright rim is about 3.6/6 of it,
    a plain brain none of it; a cavity too small for a slice with brain gives None."""
    ps = 1.2
    share = rim_share(_ring(rim_px=3), ps)
    assert 0.45 < share < 0.7
    assert rim_share(_ring(rim_px=0), ps) == 0.0
    assert rim_share(_ring(gap=True), ps) is None
    assert rim_share(_ring(), 0.05) is None


def test_montage_rim_writes_a_profile_per_row(tmp_path):
    out = tmp_path / "m.png"
    args = build_parser().parse_args(
        [
            "montage",
            "--out",
            str(out),
            "--studies",
            "1",
            "--rim",
            "--real",
            str(demo_study_path()),
        ]
    )
    assert args.func(args) == 0
    doc = json.loads(out.with_suffix(".rim.json").read_text())
    assert doc["size"] == 192 and len(doc["bands_mm"]) == len(RIM_BINS_MM) - 1
    assert list(doc["rows"]) == ["phantom 1000/0", demo_study_path().name]
    for row in doc["rows"].values():
        assert row["slices"] > 0
        med = row["median_hu"]
        # Brain far from the bone reads as brain; the band next to the bone is brighter.
        assert 15 < med[-1] < 45 and med[0] > med[-1]
