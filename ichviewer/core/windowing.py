"""Display windows for CT: linear and sigmoid mappings of Hounsfield units to [0, 1].

The maths follows DESIGN.md contract 2. Linear is the DICOM-style clip; sigmoid is the
"window estimator" of Lee, Kim, Do (arXiv 1812.00572) with U = 1 and eps = 1/255 so the
window edges WL -/+ WW/2 land on exactly 1/255 and 254/255.

Two ways in:

* :func:`apply_window` / :func:`stack_windows`: float maths, used for model input.
* :func:`window_lut` / :func:`apply_lut`: a uint8 lookup table over an integer HU range,
  used for display (one table lookup per pixel, no float maths), and handed as-is to
  pyqtgraph's ``ImageItem.setLookupTable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Mode = Literal["linear", "sigmoid"]
MODES: tuple[str, ...] = ("linear", "sigmoid")

#: Upper bound and edge value of the sigmoid window (Lee et al.).
SIGMOID_U = 1.0
SIGMOID_EPS = 1.0 / 255.0

#: Integer HU range covered by display lookup tables; values outside are clamped, which
#: for any sane window (edges inside this range) gives the same colour as the exact maths.
LUT_HU_MIN = -2048
LUT_HU_MAX = 6143


@dataclass(frozen=True)
class Window:
    """A window level / width pair in HU."""

    level: float
    width: float

    def __post_init__(self) -> None:
        if not (self.width > 0 and math.isfinite(self.width)):
            raise ValueError(f"Window width must be a finite number > 0, got {self.width!r}")
        if not math.isfinite(self.level):
            raise ValueError(f"Window level must be finite, got {self.level!r}")

    @property
    def low(self) -> float:
        return self.level - self.width / 2.0

    @property
    def high(self) -> float:
        return self.level + self.width / 2.0


PRESETS: dict[str, Window] = {
    "brain": Window(40.0, 80.0),
    "subdural": Window(80.0, 200.0),
    "bone": Window(600.0, 2800.0),
}
#: Channel order of the 3-window stack (RGB composite and model input).
STACK_PRESETS: tuple[str, ...] = ("brain", "subdural", "bone")


def get_window(window: Window | str | tuple[float, float]) -> Window:
    """Return a :class:`Window` from a preset name, a (level, width) pair or a Window."""
    if isinstance(window, Window):
        return window
    if isinstance(window, str):
        try:
            return PRESETS[window]
        except KeyError:
            raise ValueError(
                f"Unknown window preset {window!r}; choose one of {sorted(PRESETS)}"
            ) from None
    level, width = window
    return Window(float(level), float(width))


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"Unknown window mode {mode!r}; choose 'linear' or 'sigmoid'")


def sigmoid_slope(width: float) -> float:
    """k = (2 / WW) ln(U / eps - 1): the slope that puts the window edges on eps, U - eps."""
    return (2.0 / width) * math.log(SIGMOID_U / SIGMOID_EPS - 1.0)


def apply_window(
    hu: np.ndarray, window: Window | str | tuple[float, float], mode: Mode = "linear"
) -> np.ndarray:
    """Map HU to float32 values in [0, 1] with a linear or sigmoid window."""
    _check_mode(mode)
    w = get_window(window)
    x = np.asarray(hu, dtype=np.float32)
    if mode == "linear":
        out = (x - np.float32(w.low)) / np.float32(w.width)
        return np.clip(out, 0.0, 1.0, out=out)
    k = np.float32(sigmoid_slope(w.width))
    z = -k * (x - np.float32(w.level))
    # exp overflows to inf for very dark pixels, which correctly gives 0.
    with np.errstate(over="ignore", under="ignore"):
        out = np.float32(SIGMOID_U) / (np.float32(1.0) + np.exp(z))
    return out.astype(np.float32, copy=False)


def stack_windows(
    hu: np.ndarray,
    windows: tuple[Window | str | tuple[float, float], ...] = STACK_PRESETS,
    mode: Mode = "linear",
) -> np.ndarray:
    """Stack several windows of one slice as channels: (H, W) -> (H, W, C) float32."""
    return np.stack([apply_window(hu, w, mode) for w in windows], axis=-1)


def window_lut(
    window: Window | str | tuple[float, float],
    mode: Mode = "linear",
    hu_min: int = LUT_HU_MIN,
    hu_max: int = LUT_HU_MAX,
) -> np.ndarray:
    """A uint8 table: entry i is the display value of HU ``hu_min + i``."""
    hu = np.arange(hu_min, hu_max + 1, dtype=np.float32)
    return to_uint8(apply_window(hu, window, mode))


def to_uint8(values01: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 with rounding (0.5 -> 128)."""
    return np.rint(np.asarray(values01, dtype=np.float32) * 255.0).astype(np.uint8)


def lut_indices(hu: np.ndarray, hu_min: int = LUT_HU_MIN, hu_max: int = LUT_HU_MAX) -> np.ndarray:
    """Integer table indices for an HU image (rounded, clamped to the table range)."""
    a = np.asarray(hu)
    if not np.issubdtype(a.dtype, np.integer):
        a = np.rint(a)
    idx = np.clip(a, hu_min, hu_max).astype(np.int32)
    idx -= hu_min
    return idx


def apply_lut(hu: np.ndarray, lut: np.ndarray, hu_min: int = LUT_HU_MIN) -> np.ndarray:
    """Display values of an HU image through a table from :func:`window_lut`."""
    return lut[lut_indices(hu, hu_min, hu_min + len(lut) - 1)]


def rgb_composite(hu: np.ndarray, mode: Mode = "linear") -> np.ndarray:
    """Brain, subdural and bone windows as R, G, B uint8 (H, W, 3), through tables."""
    idx = lut_indices(hu)
    return np.stack([window_lut(p, mode)[idx] for p in STACK_PRESETS], axis=-1)
