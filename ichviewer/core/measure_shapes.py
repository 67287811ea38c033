"""The shapes a reader draws on a slice, and their validation: rulers, ellipse and polygon
ROIs with HU statistics. Coordinates and spacing follow :mod:`ichviewer.core.measure`.

Split out of :mod:`ichviewer.core.measure`, which re-exports everything here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

Point = tuple[float, float]

PLANES = ("axial", "coronal", "sagittal")


# --------------------------------------------------------------------------- validation


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    return v


def _int(value: Any, where: str, minimum: int | None = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: must be >= {minimum}, got {value!r}")
    return int(value)


def _point(value: Any, where: str) -> Point:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{where}: expected a point [x, y], got {value!r}")
    return (_number(value[0], f"{where}[0]"), _number(value[1], f"{where}[1]"))


def _plane(value: Any, where: str) -> str:
    if value not in PLANES:
        raise ValueError(f"{where}: expected one of {list(PLANES)}, got {value!r}")
    return str(value)


def _spacing(pixel_spacing: Sequence[float]) -> tuple[float, float]:
    """(row, col) spacing in mm, both finite and > 0."""
    if pixel_spacing is None or len(pixel_spacing) != 2:
        raise ValueError(f"pixel spacing must be (row_mm, col_mm), got {pixel_spacing!r}")
    rs, cs = (float(v) for v in pixel_spacing)
    if not (rs > 0 and cs > 0 and math.isfinite(rs) and math.isfinite(cs)):
        raise ValueError(f"pixel spacing must be finite and > 0, got {pixel_spacing!r}")
    return rs, cs


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ValueError(f"{where}: missing field {key!r}")
    return data[key]


def _check_kind(data: Any, kind: str, where: str) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise ValueError(f"{where}: expected kind {kind!r}, got {data.get('kind')!r}")


# --------------------------------------------------------------------------- ruler


@dataclass(frozen=True)
class Ruler:
    """A straight line from ``p0`` to ``p1`` on slice ``index`` of ``plane``."""

    kind: ClassVar[str] = "ruler"

    index: int
    p0: Point
    p1: Point
    plane: str = "axial"

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", _int(self.index, "ruler.index"))
        object.__setattr__(self, "p0", _point(self.p0, "ruler.p0"))
        object.__setattr__(self, "p1", _point(self.p1, "ruler.p1"))
        _plane(self.plane, "ruler.plane")

    def vector_mm(self, pixel_spacing: Sequence[float]) -> tuple[float, float]:
        """(dx, dy) in mm: x along columns (column spacing), y along rows (row spacing)."""
        rs, cs = _spacing(pixel_spacing)
        return ((self.p1[0] - self.p0[0]) * cs, (self.p1[1] - self.p0[1]) * rs)

    def length_mm(self, pixel_spacing: Sequence[float]) -> float:
        """Length in mm; rows and columns may be spaced differently."""
        return math.hypot(*self.vector_mm(pixel_spacing))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "plane": self.plane,
            "index": self.index,
            "p0": list(self.p0),
            "p1": list(self.p1),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "ruler") -> Ruler:
        _check_kind(data, cls.kind, where)
        return cls(
            index=_int(_require(data, "index", where), f"{where}.index"),
            p0=_point(_require(data, "p0", where), f"{where}.p0"),
            p1=_point(_require(data, "p1", where), f"{where}.p1"),
            plane=_plane(data.get("plane", "axial"), f"{where}.plane"),
        )


def angle_between_deg(a: Ruler, b: Ruler, pixel_spacing: Sequence[float]) -> float:
    """Angle between two rulers in mm space, 0..90 degrees (90 = perpendicular)."""
    ax, ay = a.vector_mm(pixel_spacing)
    bx, by = b.vector_mm(pixel_spacing)
    na, nb = math.hypot(ax, ay), math.hypot(bx, by)
    if na == 0 or nb == 0:
        return float("nan")
    cos = abs(ax * bx + ay * by) / (na * nb)
    return math.degrees(math.acos(min(1.0, cos)))


# --------------------------------------------------------------------------- ROIs


@dataclass(frozen=True)
class RoiStats:
    """HU statistics of the pixels whose centres lie inside an ROI.

    ``sd`` is the population standard deviation (ddof=0). ``area_mm2`` is ``n_pixels`` times
    the area of one pixel (what was averaged), not the drawn shape's geometric area. With no
    pixel inside, ``n_pixels`` is 0 and the HU values are NaN.
    """

    mean: float
    sd: float
    min: float
    max: float
    area_mm2: float
    n_pixels: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("mean", "sd", "min", "max", "area_mm2"):
            v = getattr(self, k)
            out[k] = v if math.isfinite(v) else None  # strict JSON: no NaN tokens
        out["n_pixels"] = self.n_pixels
        return out


def roi_stats(image_hu: np.ndarray, mask: np.ndarray, pixel_spacing: Sequence[float]) -> RoiStats:
    """Statistics of ``image_hu`` under a boolean ``mask`` of the same shape."""
    rs, cs = _spacing(pixel_spacing)
    img = np.asarray(image_hu)
    if img.ndim != 2 or mask.shape != img.shape:
        raise ValueError(f"image {img.shape} and mask {mask.shape} must be the same 2-D shape")
    vals = img[mask].astype(np.float64)
    n = int(vals.size)
    if n == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, 0.0, 0)
    return RoiStats(
        mean=float(vals.mean()),
        sd=float(vals.std()),
        min=float(vals.min()),
        max=float(vals.max()),
        area_mm2=n * rs * cs,
        n_pixels=n,
    )


def _bbox(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer pixel-centre bounds (r0, r1, c0, c1), clipped, half-open."""
    h, w = shape
    c0 = max(0, math.ceil(float(xs.min())))
    c1 = min(w, math.floor(float(xs.max())) + 1)
    r0 = max(0, math.ceil(float(ys.min())))
    r1 = min(h, math.floor(float(ys.max())) + 1)
    return r0, r1, c0, c1


class _Roi:
    """What the ROI shapes share: HU statistics over the pixels their :meth:`mask` covers."""

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError

    def stats(self, image_hu: np.ndarray, pixel_spacing: Sequence[float]) -> RoiStats:
        """HU statistics over the pixels whose centres lie inside (see :class:`RoiStats`)."""
        return roi_stats(image_hu, self.mask(np.shape(image_hu)), pixel_spacing)


@dataclass(frozen=True)
class EllipseROI(_Roi):
    """An ellipse: centre, semi-axes ``radii = (rx, ry)`` in pixels, rotated ``angle_deg``
    (counter-clockwise on screen, i.e. from +x towards -y) about its centre."""

    kind: ClassVar[str] = "ellipse"

    index: int
    center: Point
    radii: tuple[float, float]
    angle_deg: float = 0.0
    plane: str = "axial"

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", _int(self.index, "ellipse.index"))
        object.__setattr__(self, "center", _point(self.center, "ellipse.center"))
        rx, ry = _point(self.radii, "ellipse.radii")
        if rx < 0 or ry < 0:
            raise ValueError(f"ellipse.radii: must be >= 0, got {self.radii!r}")
        object.__setattr__(self, "radii", (rx, ry))
        object.__setattr__(self, "angle_deg", _number(self.angle_deg, "ellipse.angle_deg"))
        _plane(self.plane, "ellipse.plane")

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Pixels of an image of ``shape`` whose centres lie inside (or on) the ellipse."""
        out = np.zeros(shape, dtype=bool)
        rx, ry = self.radii
        if rx == 0 or ry == 0:
            return out
        cx, cy = self.center
        r = max(rx, ry)
        r0, r1, c0, c1 = _bbox(np.array([cx - r, cx + r]), np.array([cy - r, cy + r]), shape)
        if r0 >= r1 or c0 >= c1:
            return out
        yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float64)
        dx, dy = xx - cx, yy - cy
        t = math.radians(self.angle_deg)
        # Screen y points down: a counter-clockwise angle on screen is -t in (x, y).
        u = dx * math.cos(t) - dy * math.sin(t)
        v = dx * math.sin(t) + dy * math.cos(t)
        out[r0:r1, c0:c1] = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0 + 1e-9
        return out

    def area_mm2(self, pixel_spacing: Sequence[float]) -> float:
        """Geometric area of the drawn ellipse (not the pixel count)."""
        rs, cs = _spacing(pixel_spacing)
        return math.pi * self.radii[0] * self.radii[1] * rs * cs

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "plane": self.plane,
            "index": self.index,
            "center": list(self.center),
            "radii": list(self.radii),
            "angle_deg": self.angle_deg,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "ellipse") -> EllipseROI:
        _check_kind(data, cls.kind, where)
        radii = _point(_require(data, "radii", where), f"{where}.radii")
        if radii[0] < 0 or radii[1] < 0:
            raise ValueError(f"{where}.radii: must be >= 0, got {list(radii)!r}")
        return cls(
            index=_int(_require(data, "index", where), f"{where}.index"),
            center=_point(_require(data, "center", where), f"{where}.center"),
            radii=radii,
            angle_deg=_number(data.get("angle_deg", 0.0), f"{where}.angle_deg"),
            plane=_plane(data.get("plane", "axial"), f"{where}.plane"),
        )


@dataclass(frozen=True)
class PolygonROI(_Roi):
    """A closed free-hand or polygon outline through ``points`` (at least 3)."""

    kind: ClassVar[str] = "polygon"

    index: int
    points: tuple[Point, ...]
    plane: str = "axial"

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", _int(self.index, "polygon.index"))
        if isinstance(self.points, (str, bytes)) or not isinstance(self.points, Sequence):
            raise ValueError(f"polygon.points: expected a list of points, got {self.points!r}")
        pts = tuple(_point(p, f"polygon.points[{i}]") for i, p in enumerate(self.points))
        if len(pts) < 3:
            raise ValueError(f"polygon.points: needs at least 3 points, got {len(pts)}")
        object.__setattr__(self, "points", pts)
        _plane(self.plane, "polygon.plane")

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Pixels whose centres lie inside the outline (even-odd rule; a centre exactly on
        an edge may fall either side, as in any scan-line fill)."""
        out = np.zeros(shape, dtype=bool)
        p = np.asarray(self.points, dtype=np.float64)
        r0, r1, c0, c1 = _bbox(p[:, 0], p[:, 1], shape)
        if r0 >= r1 or c0 >= c1:
            return out
        yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float64)
        inside = np.zeros(yy.shape, dtype=bool)
        x0, y0 = p[:, 0], p[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        for ax, ay, bx, by in zip(x0, y0, x1, y1, strict=True):
            if ay == by:
                continue  # a horizontal edge never crosses a horizontal scan line
            crosses = (ay > yy) != (by > yy)
            x_at = ax + (yy - ay) * (bx - ax) / (by - ay)
            inside ^= crosses & (xx < x_at)
        out[r0:r1, c0:c1] = inside
        return out

    def area_mm2(self, pixel_spacing: Sequence[float]) -> float:
        """Geometric area of the outline (shoelace formula), not the pixel count."""
        rs, cs = _spacing(pixel_spacing)
        p = np.asarray(self.points, dtype=np.float64)
        x, y = p[:, 0], p[:, 1]
        return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) * rs * cs

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "plane": self.plane,
            "index": self.index,
            "points": [list(p) for p in self.points],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "polygon") -> PolygonROI:
        _check_kind(data, cls.kind, where)
        pts = _require(data, "points", where)
        if isinstance(pts, (str, bytes)) or not isinstance(pts, Sequence):
            raise ValueError(f"{where}.points: expected a list of points, got {pts!r}")
        if len(pts) < 3:
            raise ValueError(f"{where}.points: needs at least 3 points, got {len(pts)}")
        return cls(
            index=_int(_require(data, "index", where), f"{where}.index"),
            points=tuple(_point(p, f"{where}.points[{i}]") for i, p in enumerate(pts)),
            plane=_plane(data.get("plane", "axial"), f"{where}.plane"),
        )
