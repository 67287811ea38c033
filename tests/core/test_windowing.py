from __future__ import annotations

import math

import numpy as np
import pytest

from ichviewer.core.windowing import (
    LUT_HU_MAX,
    LUT_HU_MIN,
    PRESETS,
    Window,
    apply_lut,
    apply_window,
    get_window,
    rgb_composite,
    sigmoid_slope,
    stack_windows,
    window_lut,
)


class TestPresets:
    def test_values_are_the_radiology_defaults(self):
        assert (PRESETS["brain"].level, PRESETS["brain"].width) == (40, 80)
        assert (PRESETS["subdural"].level, PRESETS["subdural"].width) == (80, 200)
        assert (PRESETS["bone"].level, PRESETS["bone"].width) == (600, 2800)

    def test_bad_width_is_refused_with_the_value(self):
        with pytest.raises(ValueError, match="width.*-5"):
            Window(40, -5)

    def test_unknown_preset_names_the_choices(self):
        with pytest.raises(ValueError, match="brain"):
            get_window("lung")


class TestApplyWindowLinear:
    @pytest.mark.parametrize("name", ["brain", "subdural", "bone"])
    def test_edges_and_centre(self, name):
        w = PRESETS[name]
        out = apply_window(np.array([w.low, w.level, w.high, w.low - 500, w.high + 500]), w)
        np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 0.0, 1.0], atol=1e-6)

    def test_matches_design_formula(self):
        x = np.linspace(-1200, 3000, 1001)
        wl, ww = 80.0, 200.0
        expected = np.clip((x - (wl - ww / 2)) / ww, 0, 1)
        np.testing.assert_allclose(apply_window(x, (wl, ww)), expected, atol=1e-6)

    def test_returns_float32(self):
        assert apply_window(np.zeros((2, 2), np.int16), "brain").dtype == np.float32


class TestApplyWindowSigmoid:
    @pytest.mark.parametrize("name", ["brain", "subdural", "bone"])
    def test_window_edges_map_to_1_and_254_over_255(self, name):
        w = PRESETS[name]
        out = apply_window(np.array([w.low, w.level, w.high]), w, "sigmoid")
        np.testing.assert_allclose(out, [1 / 255, 0.5, 254 / 255], atol=1e-6)

    def test_slope_formula(self):
        assert sigmoid_slope(80) == pytest.approx((2 / 80) * math.log(254))

    def test_extremes_saturate_without_overflow_warnings(self):
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = apply_window(np.array([-3024.0, 30000.0]), "brain", "sigmoid")
        np.testing.assert_allclose(out, [0.0, 1.0], atol=1e-6)

    def test_sigmoid_differs_from_linear_inside_window(self):
        x = np.array([20.0])  # a quarter into the brain window
        assert apply_window(x, "brain", "sigmoid")[0] < apply_window(x, "brain")[0]

    def test_unknown_mode(self):
        with pytest.raises(ValueError, match="gamma"):
            apply_window(np.zeros(1), "brain", "gamma")


class TestStackWindows:
    def test_channels_are_brain_subdural_bone(self):
        hu = np.array([[40.0, 80.0, 600.0]])
        out = stack_windows(hu)
        assert out.shape == (1, 3, 3)
        assert out[0, 0, 0] == pytest.approx(0.5)  # 40 HU mid-brain window
        assert out[0, 1, 1] == pytest.approx(0.5)  # 80 HU mid-subdural window
        assert out[0, 2, 2] == pytest.approx(0.5)  # 600 HU mid-bone window


class TestLookupTables:
    @pytest.mark.parametrize("mode", ["linear", "sigmoid"])
    @pytest.mark.parametrize("window", ["brain", "subdural", "bone", (35.5, 117.0)])
    def test_lut_equals_float_maths_on_integer_hu(self, mode, window):
        hu = np.arange(-1500, 3500, 7, dtype=np.int16)
        exact = np.rint(apply_window(hu, window, mode) * 255).astype(np.uint8)
        np.testing.assert_array_equal(apply_lut(hu, window_lut(window, mode)), exact)

    def test_float_hu_is_rounded_and_out_of_range_clamped(self):
        lut = window_lut("brain")
        out = apply_lut(np.array([39.6, 40.4, LUT_HU_MIN - 1e6, LUT_HU_MAX + 1e6]), lut)
        assert out.tolist() == [128, 128, 0, 255]

    def test_rgb_composite_channels(self):
        hu = np.array([[40.0, 80.0, 600.0]], dtype=np.float32)
        rgb = rgb_composite(hu)
        assert rgb.dtype == np.uint8 and rgb.shape == (1, 3, 3)
        assert rgb[0, 0].tolist() == [128, 76, 76]  # brain 0.5, subdural 0.3, bone 0.3
