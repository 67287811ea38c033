"""What the image view shows: window preset or free W/L, linear or sigmoid, or RGB composite.

The on-screen mapping is a lookup table over the integer HU range of
:mod:`ichviewer.core.windowing` (one table lookup per pixel); the slice data handed to the
image item is the reader's float HU, never changed. Pure numpy: no widgets here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from ichviewer.core.presets import PresetTable, view_transform
from ichviewer.core.windowing import (
    PRESETS,
    STACK_PRESETS,
    Window,
    window_lut,
)

#: Presets with a key (1-5); "rgb" is the brain/subdural/bone composite. More presets (the
#: site's, the user's) come from the display's :class:`ichviewer.core.presets.PresetTable`.
VIEW_PRESETS: tuple[str, ...] = ("brain", "subdural", "bone", "rgb", "stroke")
CUSTOM = "custom"

WIDTH_RANGE = (1.0, 8000.0)
LEVEL_RANGE = (-1500.0, 5000.0)


@dataclass(frozen=True)
class DisplayState:
    """Preset name (or "custom" after a W/L drag), the grey window, the mapping mode, and how
    the view is shown: inverted greys, flipped left-right / up-down, turned ``quarter_turns``
    x 90 degrees clockwise (:func:`ichviewer.core.presets.view_transform`).

    ``presets``: the named windows (built-in, site, user) :meth:`with_preset` looks up.
    """

    preset: str = "brain"
    window: Window = PRESETS["brain"]
    mode: str = "linear"
    invert: bool = False
    flip_h: bool = False
    flip_v: bool = False
    quarter_turns: int = 0
    presets: PresetTable = field(default_factory=PresetTable, compare=False, repr=False)

    @property
    def is_rgb(self) -> bool:
        return self.preset == "rgb"

    def with_preset(self, name: str) -> DisplayState:
        """The preset ``name`` ("rgb" or a name of :attr:`presets`, any case)."""
        if name == "rgb":
            return replace(self, preset="rgb")
        p = self.presets.get(name)  # ValueError naming the known presets
        return replace(self, preset=p.name, window=p.window)

    def with_presets(self, table: PresetTable) -> DisplayState:
        """Another preset table (Settings changed); a preset that went away becomes custom."""
        out = replace(self, presets=table)
        if self.preset in ("rgb", CUSTOM) or self.preset.casefold() not in {
            n.casefold() for n in table.names()
        }:
            return out if self.preset == "rgb" else replace(out, preset=CUSTOM)
        return out.with_preset(self.preset)

    def with_window(self, level: float, width: float) -> DisplayState:
        level = float(np.clip(level, *LEVEL_RANGE))
        width = float(np.clip(width, *WIDTH_RANGE))
        w = Window(level, width)
        name = next((p.name for p in self.presets.presets() if p.window == w), CUSTOM)
        return replace(self, preset=name, window=w)

    def with_mode(self, mode: str) -> DisplayState:
        if mode not in ("linear", "sigmoid"):
            raise ValueError(f"Unknown window mode {mode!r}; choose 'linear' or 'sigmoid'")
        return replace(self, mode=mode)

    def toggled_mode(self) -> DisplayState:
        return self.with_mode("sigmoid" if self.mode == "linear" else "linear")

    def with_invert(self, on: bool) -> DisplayState:
        return replace(self, invert=bool(on))

    def flipped(self, horizontal: bool) -> DisplayState:
        """Flip the view as shown on screen (after any rotation) left-right or up-down."""
        # A screen flip after the rotation equals an image flip of the other axis before
        # it when the view is turned by an odd number of quarter turns.
        axis_h = horizontal != bool(self.quarter_turns % 2)
        if axis_h:
            return replace(self, flip_h=not self.flip_h)
        return replace(self, flip_v=not self.flip_v)

    def rotated(self, quarter_turns: int = 1) -> DisplayState:
        """Turn the view ``quarter_turns`` x 90 degrees clockwise (negative: anticlockwise)."""
        return replace(self, quarter_turns=(self.quarter_turns + int(quarter_turns)) % 4)

    def with_orientation_reset(self) -> DisplayState:
        return replace(self, flip_h=False, flip_v=False, quarter_turns=0)

    @property
    def view_matrix(self) -> np.ndarray:
        """2x2 matrix from image to screen directions (x right, y down)."""
        return view_transform(self.flip_h, self.flip_v, self.quarter_turns)

    @property
    def is_reoriented(self) -> bool:
        return self.flip_h or self.flip_v or bool(self.quarter_turns)

    def describe(self) -> str:
        """One line for the corner text, e.g. 'W 80 L 40 brain · linear'."""
        inv = " · inverted" if self.invert else ""
        if self.is_rgb:
            return f"RGB brain/subdural/bone · {self.mode}{inv}"
        w = self.window
        return f"W {w.width:g} L {w.level:g} {self.preset} · {self.mode}{inv}"


def display_lut(state: DisplayState) -> np.ndarray:
    """The table for the image item: (N,) grey, or (N, 3) for the RGB composite; inverted
    (255 - value) when the display is."""
    if state.is_rgb:
        return _rgb_lut(state.mode, state.invert)
    return _grey_lut(state.window.level, state.window.width, state.mode, state.invert)


@lru_cache(maxsize=64)
def _grey_lut(level: float, width: float, mode: str, invert: bool = False) -> np.ndarray:
    lut = window_lut(Window(level, width), mode)  # type: ignore[arg-type]
    if invert:
        lut = 255 - lut
    lut.setflags(write=False)
    return lut


@lru_cache(maxsize=4)
def _rgb_lut(mode: str, invert: bool = False) -> np.ndarray:
    # The same three tables rgb_composite() uses, as the R, G, B columns of one table.
    lut = np.stack([window_lut(p, mode) for p in STACK_PRESETS], axis=-1)  # type: ignore[arg-type]
    if invert:
        lut = 255 - lut
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
