"""Window presets (built-in, site, user; JSON round trip, validation) and view transforms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ichviewer.core.mpr import VolumeGeometry, reformat, view_plane
from ichviewer.core.presets import (
    BUILTIN_PRESETS,
    Preset,
    PresetTable,
    presets_from_json,
    presets_to_json,
    transform_image,
    transform_labels,
    transform_point,
    view_transform,
)
from ichviewer.core.windowing import PRESETS
from tests.conftest import realct

AXIAL_LABELS = {"left": "R", "right": "L", "top": "A", "bottom": "P"}


class TestBuiltins:
    def test_model_windows_reused_and_stroke(self):
        table = PresetTable()
        for name, w in PRESETS.items():
            assert table.get(name).window == w
        assert (table.get("stroke").level, table.get("stroke").width) == (40.0, 40.0)
        assert table.names() == ["brain", "subdural", "bone", "stroke"]
        assert table.source("Brain") == "builtin"


class TestPresetTable:
    def test_merge_and_override(self):
        site = [Preset("posterior fossa", 40, 120), Preset("brain", 35, 80)]
        user = [Preset("Brain", 40, 90), Preset("mine", 50, 150)]
        table = PresetTable(site=site, user=user)
        assert table.names() == ["Brain", "subdural", "bone", "stroke", "posterior fossa", "mine"]
        assert table.get("brain").width == 90.0
        assert table.source("brain") == "user"
        assert table.source("posterior fossa") == "site"

    def test_saved_and_restored(self, tmp_path):
        site = {"format": "ichviewer-window-presets", "version": 1, "presets": []}
        table = PresetTable(user=[Preset("stroke narrow", 35, 30), Preset("mine", 50, 150)])
        path = tmp_path / "presets.json"
        path.write_text(json.dumps(table.to_json(), allow_nan=False))
        back = PresetTable.from_json(path.read_text(), site=site)
        assert back.presets() == table.presets()
        assert back.user == table.user

    def test_with_user(self):
        table = PresetTable(site=[Preset("a", 1, 2)])
        t2 = table.with_user([Preset("b", 3, 4)])
        assert t2.site == table.site and t2.names()[-2:] == ["a", "b"]

    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ([{"name": "x", "level": 40, "width": 0}], r"presets\[0\]: preset 'x': width must be"),
            ([{"name": "x", "level": 40, "width": -5}], "greater than 0"),
            ([{"name": "", "level": 40, "width": 5}], r"presets\[0\]: preset name"),
            ([{"name": "x", "level": "40", "width": 5}], "level must be a number"),
            ([{"name": "x", "level": 40}], "missing field 'width'"),
            ([{"name": "x", "level": 1, "width": 2}, {"name": "X", "level": 3, "width": 4}],
             "'X' appears more than once"),
            ({"format": "other", "presets": []}, r"\.format"),
            ({"format": "ichviewer-window-presets", "version": 7, "presets": []}, "newer"),
            ({"format": "ichviewer-window-presets", "version": 1, "presets": {}}, "expected a list"),
            ("{not json", "not JSON"),
        ],
    )  # fmt: skip
    def test_validation(self, doc, message):
        with pytest.raises(ValueError, match=message):
            presets_from_json(doc)

    def test_nan_width(self):
        with pytest.raises(ValueError, match="width must be finite"):
            Preset("x", 40, float("nan"))

    def test_user_layer_named_in_error(self):
        with pytest.raises(ValueError, match=r"user presets\.presets\[0\]"):
            PresetTable.from_json(presets_to_json([]) | {"presets": [{"name": "x"}]})

    def test_round_trip_builtin_list(self):
        assert presets_from_json(json.dumps(presets_to_json(BUILTIN_PRESETS))) == BUILTIN_PRESETS


class TestViewTransform:
    def test_matrices(self):
        np.testing.assert_array_equal(view_transform(), np.eye(2))
        np.testing.assert_array_equal(view_transform(flip_h=True), [[-1, 0], [0, 1]])
        np.testing.assert_array_equal(view_transform(quarter_turns=1), [[0, -1], [1, 0]])
        np.testing.assert_array_equal(view_transform(quarter_turns=4), np.eye(2))
        # A flip both ways is a half turn.
        np.testing.assert_array_equal(view_transform(True, True), view_transform(quarter_turns=2))

    def test_flip_moves_markers(self):
        m = view_transform(flip_h=True)
        assert transform_labels(AXIAL_LABELS, m) == {
            "left": "L",
            "right": "R",
            "top": "A",
            "bottom": "P",
        }
        assert transform_labels(AXIAL_LABELS, view_transform(flip_v=True))["top"] == "P"

    def test_rotate_moves_markers(self):
        # A clockwise quarter turn: the image's left edge (R) goes to the top.
        assert transform_labels(AXIAL_LABELS, view_transform(quarter_turns=1)) == {
            "top": "R",
            "right": "A",
            "bottom": "L",
            "left": "P",
        }
        assert transform_labels(AXIAL_LABELS, view_transform(quarter_turns=-1))["top"] == "L"

    @pytest.mark.parametrize("flip_h", [False, True])
    @pytest.mark.parametrize("flip_v", [False, True])
    @pytest.mark.parametrize("turns", [0, 1, 2, 3])
    def test_pixels_points_and_labels_agree(self, flip_h, flip_v, turns):
        img = np.zeros((5, 8), dtype=np.int32)
        img[1, 6] = 7  # a marked pixel near the top-right
        shown = transform_image(img, flip_h, flip_v, turns)
        x, y = transform_point((6, 1), img.shape, flip_h, flip_v, turns)
        assert shown[int(y), int(x)] == 7
        # The marked pixel's direction from the centre follows the matrix.
        m = view_transform(flip_h, flip_v, turns)
        centre_in = np.array([(8 - 1) / 2, (5 - 1) / 2])
        centre_out = np.array([(shown.shape[1] - 1) / 2, (shown.shape[0] - 1) / 2])
        np.testing.assert_allclose(
            m @ (np.array([6, 1]) - centre_in), np.array([x, y]) - centre_out
        )
        # The edge letters land where the pixels went: the top-right pixel's nearest
        # edges (top "A", right "L") are its nearest edges after the transform.
        labels = transform_labels(AXIAL_LABELS, m)
        h, w = shown.shape
        near_x = "right" if x > (w - 1) / 2 else "left"
        near_y = "bottom" if y > (h - 1) / 2 else "top"
        assert {labels[near_x], labels[near_y]} == {"A", "L"}


def test_markers_follow_a_flipped_reformat():
    g = VolumeGeometry([[0, 0, 2.0 * k] for k in range(5)], (1, 0, 0, 0, 1, 0), (1, 1), (8, 8))
    r = reformat(np.zeros((5, 8, 8), np.float32), g, "coronal", 3)
    labels = transform_labels(r.orientation_labels(), view_transform(flip_v=True))
    assert labels == {"left": "R", "right": "L", "top": "F", "bottom": "H"}


@pytest.mark.realct
def test_ge_head_markers_flip_and_rotate():
    from ichviewer.io import scan
    from ichviewer.io.geometry import volume_geometry

    series = scan(realct("ge_head")).best_series()
    g = volume_geometry(series)
    axial = view_plane(g, "axial", 0).orientation_labels()
    # Tilted 18.5 deg: screen down is mostly posterior, partly towards the feet.
    assert axial == {"left": "R", "right": "L", "top": "AH", "bottom": "PF"}
    assert transform_labels(axial, view_transform(flip_h=True))["left"] == "L"
    rotated = transform_labels(axial, view_transform(quarter_turns=1))
    assert rotated == {"top": "R", "right": "AH", "bottom": "L", "left": "PF"}
