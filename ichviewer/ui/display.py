"""What the image view shows: window preset or free W/L, linear or sigmoid, or RGB composite.

The on-screen mapping is a lookup table over the integer HU range of
:mod:`ichviewer.core.windowing` (one table lookup per pixel); the slice data handed to the
image item is the reader's float HU, never changed. Pure numpy: no widgets here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ichviewer.core.windowing import (
    PRESETS,
    STACK_PRESETS,
    Window,
    window_lut,
)

#: Presets a user can pick (keys 1-4); "rgb" is the brain/subdural/bone composite.
VIEW_PRESETS: tuple[str, ...] = ("brain", "subdural", "bone", "rgb")
CUSTOM = "custom"

WIDTH_RANGE = (1.0, 8000.0)
LEVEL_RANGE = (-1500.0, 5000.0)


@dataclass(frozen=True)
class DisplayState:
    """Preset name (or "custom" after a W/L drag), the grey window, and the mapping mode."""

    preset: str = "brain"
    window: Window = PRESETS["brain"]
    mode: str = "linear"

    @property
    def is_rgb(self) -> bool:
        return self.preset == "rgb"

    def with_preset(self, name: str) -> DisplayState:
        if name == "rgb":
            return replace(self, preset="rgb")
        return replace(self, preset=name, window=PRESETS[name])

    def with_window(self, level: float, width: float) -> DisplayState:
        level = float(np.clip(level, *LEVEL_RANGE))
        width = float(np.clip(width, *WIDTH_RANGE))
        name = next((n for n, w in PRESETS.items() if w == Window(level, width)), CUSTOM)
        return replace(self, preset=name, window=Window(level, width))

    def with_mode(self, mode: str) -> DisplayState:
        if mode not in ("linear", "sigmoid"):
            raise ValueError(f"Unknown window mode {mode!r}; choose 'linear' or 'sigmoid'")
        return replace(self, mode=mode)

    def toggled_mode(self) -> DisplayState:
        return self.with_mode("sigmoid" if self.mode == "linear" else "linear")

    def describe(self) -> str:
        """One line for the corner text, e.g. 'W 80 L 40 brain · linear'."""
        if self.is_rgb:
            return f"RGB brain/subdural/bone · {self.mode}"
        w = self.window
        return f"W {w.width:g} L {w.level:g} {self.preset} · {self.mode}"


def display_lut(state: DisplayState) -> np.ndarray:
    """The table for the image item: (N,) grey, or (N, 3) for the RGB composite."""
    if state.is_rgb:
        return _rgb_lut(state.mode)
    return _grey_lut(state.window.level, state.window.width, state.mode)


@lru_cache(maxsize=64)
def _grey_lut(level: float, width: float, mode: str) -> np.ndarray:
    lut = window_lut(Window(level, width), mode)  # type: ignore[arg-type]
    lut.setflags(write=False)
    return lut


@lru_cache(maxsize=2)
def _rgb_lut(mode: str) -> np.ndarray:
    # The same three tables rgb_composite() uses, as the R, G, B columns of one table.
    lut = np.stack([window_lut(p, mode) for p in STACK_PRESETS], axis=-1)  # type: ignore[arg-type]
    lut.setflags(write=False)
    return lut


def drag_window(start: Window, dx: float, dy: float) -> tuple[float, float]:
    """(level, width) after a left-drag of (dx, dy) screen pixels from ``start``.

    Right widens the window, down raises the level (the image gets darker), as on most
    PACS. The step scales with the starting width: 1 HU per pixel for a brain window,
    about 11 for a bone window, so both stay controllable.
    """
    step = max(1.0, start.width / 256.0)
    width = float(np.clip(round(start.width + dx * step), *WIDTH_RANGE))
    level = float(np.clip(round(start.level + dy * step), *LEVEL_RANGE))
    return level, width
