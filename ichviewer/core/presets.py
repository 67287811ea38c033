"""Display presets a site and a user can edit, and the flips / rotations of a view.

Window presets
--------------
The built-in presets are the model's three windows from :data:`ichviewer.core.windowing.PRESETS`
(brain 40/80, subdural 80/200, bone 600/2800) plus the stroke window 40/40. A site file and
the user's settings add presets or override one by name (user over site over built-in);
the model input never uses these, it is fixed by the checkpoint (DESIGN.md contract 3).

View transforms
---------------
A view may be flipped left-right (``flip_h``), up-down (``flip_v``), then turned
``quarter_turns`` x 90 degrees clockwise on screen, in that order. :func:`view_transform`
gives the 2x2 integer matrix acting on screen vectors (x right, y down);
:func:`transform_image`, :func:`transform_point` and :func:`transform_labels` apply the
same transform to pixels, to points and to the orientation letters at the edges, so the
markers follow the image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ichviewer.core.windowing import PRESETS, Window

PRESETS_FORMAT = "ichviewer-window-presets"
PRESETS_VERSION = 1
MAX_NAME_LENGTH = 40
LAYERS = ("builtin", "site", "user")


@dataclass(frozen=True)
class Preset:
    """A named window (level / width in HU)."""

    name: str
    level: float
    width: float

    def __post_init__(self) -> None:
        name = self.name.strip() if isinstance(self.name, str) else self.name
        if not isinstance(name, str) or not name:
            raise ValueError(f"preset name must be a non-empty string, got {self.name!r}")
        if len(name) > MAX_NAME_LENGTH:
            raise ValueError(f"preset name {name!r} is longer than {MAX_NAME_LENGTH} characters")
        object.__setattr__(self, "name", name)
        for field_name in ("level", "width"):
            v = getattr(self, field_name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"preset {name!r}: {field_name} must be a number, got {v!r}")
            if not math.isfinite(float(v)):
                raise ValueError(f"preset {name!r}: {field_name} must be finite, got {v!r}")
            object.__setattr__(self, field_name, float(v))
        if not self.width > 0:
            raise ValueError(f"preset {name!r}: width must be greater than 0, got {self.width!r}")

    @property
    def window(self) -> Window:
        return Window(self.level, self.width)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level, "width": self.width}

    @classmethod
    def from_json(cls, data: Any, where: str = "preset") -> Preset:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        for key in ("name", "level", "width"):
            if key not in data:
                raise ValueError(f"{where}: missing field {key!r}")
        try:
            return cls(data["name"], data["level"], data["width"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


#: Built-in display presets: the model's windows (one definition, in windowing) + stroke.
BUILTIN_PRESETS: tuple[Preset, ...] = (
    *(Preset(name, w.level, w.width) for name, w in PRESETS.items()),
    Preset("stroke", 40.0, 40.0),
)


def _check_unique(presets: Sequence[Preset], where: str) -> None:
    seen: dict[str, str] = {}
    for p in presets:
        key = p.name.casefold()
        if key in seen:
            raise ValueError(f"{where}: preset name {p.name!r} appears more than once")
        seen[key] = p.name


def presets_from_json(data: Any, where: str = "presets") -> tuple[Preset, ...]:
    """Presets from a JSON document (dict from :func:`presets_to_json`, its text, or a bare
    list of ``{"name", "level", "width"}``); ValueError naming the entry at fault."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc})") from None
    if isinstance(data, Mapping):
        fmt = data.get("format")
        if fmt != PRESETS_FORMAT:
            raise ValueError(f"{where}.format: expected {PRESETS_FORMAT!r}, got {fmt!r}")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"{where}.version: expected an integer >= 1, got {version!r}")
        if version > PRESETS_VERSION:
            raise ValueError(
                f"{where}.version: {version} is newer than this viewer reads ({PRESETS_VERSION})"
            )
        items = data.get("presets")
        where = f"{where}.presets"
    else:
        items = data
    if not isinstance(items, list):
        raise ValueError(f"{where}: expected a list of presets, got {type(items).__name__}")
    out = tuple(Preset.from_json(p, f"{where}[{i}]") for i, p in enumerate(items))
    _check_unique(out, where)
    return out


def presets_to_json(presets: Iterable[Preset]) -> dict[str, Any]:
    return {
        "format": PRESETS_FORMAT,
        "version": PRESETS_VERSION,
        "presets": [p.to_json() for p in presets],
    }


class PresetTable:
    """Built-in, site and user presets merged by name (case-insensitive): a user preset
    overrides a site one, which overrides a built-in one; order is built-ins first, then
    site additions, then user additions, each in the order given."""

    def __init__(self, site: Iterable[Preset] = (), user: Iterable[Preset] = ()) -> None:
        self._layers: dict[str, tuple[Preset, ...]] = {"builtin": BUILTIN_PRESETS}
        for layer, items in (("site", site), ("user", user)):
            presets = tuple(items)
            for p in presets:
                if not isinstance(p, Preset):
                    raise ValueError(f"{layer} presets: not a Preset: {p!r}")
            _check_unique(presets, f"{layer} presets")
            self._layers[layer] = presets

    @property
    def site(self) -> tuple[Preset, ...]:
        return self._layers["site"]

    @property
    def user(self) -> tuple[Preset, ...]:
        return self._layers["user"]

    def presets(self) -> list[Preset]:
        """The merged list a Settings page or a preset menu shows."""
        merged: dict[str, Preset] = {}
        for layer in LAYERS:
            for p in self._layers[layer]:
                # An override keeps the overridden preset's place (dicts keep first insertion).
                merged[p.name.casefold()] = p
        return list(merged.values())

    def names(self) -> list[str]:
        return [p.name for p in self.presets()]

    def get(self, name: str) -> Preset:
        """The effective preset called ``name`` (case-insensitive)."""
        key = name.casefold()
        for p in self.presets():
            if p.name.casefold() == key:
                return p
        raise ValueError(f"Unknown window preset {name!r}; choose one of {self.names()}")

    def source(self, name: str) -> str:
        """Which layer the effective preset ``name`` comes from: builtin, site or user."""
        key = name.casefold()
        for layer in reversed(LAYERS):
            if any(p.name.casefold() == key for p in self._layers[layer]):
                return layer
        raise ValueError(f"Unknown window preset {name!r}; choose one of {self.names()}")

    def with_user(self, user: Iterable[Preset]) -> PresetTable:
        """A table with the user layer replaced (what Settings saves)."""
        return PresetTable(site=self.site, user=user)

    def to_json(self) -> dict[str, Any]:
        """The user layer as a JSON dict: what is saved in the user's settings."""
        return presets_to_json(self.user)

    @classmethod
    def from_json(cls, user: Any = None, site: Any = None) -> PresetTable:
        """A table from the saved user JSON and the site JSON (either may be None)."""
        return cls(
            site=presets_from_json(site, "site presets") if site is not None else (),
            user=presets_from_json(user, "user presets") if user is not None else (),
        )


# --------------------------------------------------------------------------- view transform

_FLIP_H = np.array([[-1, 0], [0, 1]], dtype=np.int64)
_FLIP_V = np.array([[1, 0], [0, -1]], dtype=np.int64)
_ROT_CW = np.array([[0, -1], [1, 0]], dtype=np.int64)  # x right, y down: right -> down

#: Screen direction (x right, y down) of each image edge.
EDGE_VECTORS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "top": (0, -1),
    "bottom": (0, 1),
}


def view_transform(
    flip_h: bool = False, flip_v: bool = False, quarter_turns: int = 0
) -> np.ndarray:
    """2x2 integer matrix taking image directions to screen directions (x right, y down):
    flip left-right, then up-down, then ``quarter_turns`` x 90 degrees clockwise."""
    m = np.eye(2, dtype=np.int64)
    if flip_h:
        m = _FLIP_H @ m
    if flip_v:
        m = _FLIP_V @ m
    return np.linalg.matrix_power(_ROT_CW, int(quarter_turns) % 4) @ m


def transform_labels(labels: Mapping[str, str], matrix: np.ndarray) -> dict[str, str]:
    """Orientation letters at the screen edges after ``matrix`` (from :func:`view_transform`):
    the letter of the image edge that lands on each screen edge."""
    m = np.asarray(matrix, dtype=np.int64)
    by_vector = {v: edge for edge, v in EDGE_VECTORS.items()}
    out: dict[str, str] = {}
    for edge, v in EDGE_VECTORS.items():
        w = m @ np.asarray(v)
        out[by_vector[(int(w[0]), int(w[1]))]] = labels.get(edge, "")
    return out


def transform_image(
    image: np.ndarray, flip_h: bool = False, flip_v: bool = False, quarter_turns: int = 0
) -> np.ndarray:
    """The pixels as shown after the view transform (a view, no copy where numpy allows)."""
    out = np.asarray(image)
    if flip_h:
        out = out[:, ::-1]
    if flip_v:
        out = out[::-1, :]
    return np.rot90(out, -(int(quarter_turns) % 4), axes=(0, 1))


def transform_point(
    point: Sequence[float],
    shape: tuple[int, int],
    flip_h: bool = False,
    flip_v: bool = False,
    quarter_turns: int = 0,
) -> tuple[float, float]:
    """Where image point ``(x, y)`` (pixel centres on integers) of an image of ``shape``
    (rows, cols) is shown after the view transform, in the shown image's pixels."""
    rows, cols = shape
    x, y = float(point[0]), float(point[1])
    if flip_h:
        x = cols - 1 - x
    if flip_v:
        y = rows - 1 - y
    h, w = rows, cols
    for _ in range(int(quarter_turns) % 4):  # one clockwise turn: (x, y) -> (h-1-y, x)
        x, y = h - 1 - y, x
        h, w = w, h
    return x, y
