"""CAM -> RGBA overlay colouring (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from ichviewer.core.heatmap import (
    COLORMAPS,
    cam_to_rgba,
    colorbar,
    colormap_lut,
    normalise_map,
)


def ramp_map() -> np.ndarray:
    """A 10 x 100 map rising from 0 to 5 left to right (raw, not normalised)."""
    return np.tile(np.linspace(0, 5, 100, dtype=np.float32), (10, 1))


class TestColormapLut:
    @pytest.mark.parametrize("name", COLORMAPS)
    def test_shape_and_read_only(self, name: str) -> None:
        lut = colormap_lut(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
        assert not lut.flags.writeable

    def test_jet_runs_blue_to_red(self) -> None:
        lut = colormap_lut("jet")
        assert lut[0, 2] > 100 and lut[0, 0] == 0  # dark blue
        assert lut[-1, 0] > 100 and lut[-1, 2] == 0  # dark red
        assert lut[128, 1] == 255  # green in the middle

    def test_inferno_gets_brighter(self) -> None:
        brightness = colormap_lut("inferno").astype(int).sum(axis=1)
        assert np.all(np.diff(brightness) >= 0)

    def test_unknown(self) -> None:
        with pytest.raises(ValueError, match="colour map"):
            colormap_lut("rainbow")


class TestCamToRgba:
    def test_transparent_below_low_and_opaque_above_full(self) -> None:
        cam = ramp_map()
        rgba = cam_to_rgba(cam, opacity=0.8, low=0.2, full=0.5)
        norm = normalise_map(cam)
        assert rgba.shape == (10, 100, 4) and rgba.dtype == np.uint8
        low = norm < 0.2
        assert np.all(rgba[low] == 0)  # colour and alpha: blending leaves these untouched
        assert np.all(rgba[norm >= 0.5, 3] == round(0.8 * 255))
        mid = (norm > 0.21) & (norm < 0.49)
        assert np.all((rgba[mid, 3] > 0) & (rgba[mid, 3] < 204))
        assert np.all(np.diff(rgba[0, :, 3].astype(int)) >= 0)  # alpha never falls as the map rises

    def test_scaled_by_the_maximum(self) -> None:
        a = cam_to_rgba(ramp_map())
        b = cam_to_rgba(ramp_map() * 64)  # a power of two: scaling is exact in float
        np.testing.assert_array_equal(a, b)

    def test_hottest_pixel_gets_the_top_colour(self) -> None:
        rgba = cam_to_rgba(ramp_map(), colormap="jet")
        np.testing.assert_array_equal(rgba[0, -1, :3], colormap_lut("jet")[-1])

    def test_empty_or_negative_map_draws_nothing(self) -> None:
        assert not cam_to_rgba(np.zeros((4, 4))).any()
        assert not cam_to_rgba(-np.ones((4, 4))).any()
        assert not cam_to_rgba(np.full((4, 4), np.nan)).any()

    def test_opacity_zero(self) -> None:
        assert not cam_to_rgba(ramp_map(), opacity=0.0)[..., 3].any()

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError):
            cam_to_rgba(ramp_map(), low=0.6, full=0.5)
        with pytest.raises(ValueError, match="H, W"):
            cam_to_rgba(np.ones((2, 3, 4)))


def test_colorbar() -> None:
    bar = colorbar("inferno", length=64, thickness=5)
    assert bar.shape == (5, 64, 3)
    np.testing.assert_array_equal(bar[0, 0], colormap_lut("inferno")[0])
    np.testing.assert_array_equal(bar[4, -1], colormap_lut("inferno")[-1])
