"""Reformat frames and view planes of a :class:`VolumeGeometry`: the isotropic reformat
grid, where each view's image lies in patient space, cross-reference lines, linked-cursor
indices and orientation letters. See :mod:`ichviewer.core.mpr` for the conventions.

Split out of :mod:`ichviewer.core.mpr`, which re-exports everything here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ichviewer.core.mpr_geometry import FRAMES, PLANES, Frame, Plane, Point, VolumeGeometry

# --------------------------------------------------------------------------- frames, views


def _frame_axes(geometry: VolumeGeometry, frame: str) -> tuple[np.ndarray, ...]:
    """(e1, e2, e3): sagittal-index axis (coronal's screen right), coronal-index axis
    (sagittal's screen right), and up (towards the head)."""
    if frame not in FRAMES:
        raise ValueError(f"Unknown reformat frame {frame!r}; choose one of {list(FRAMES)}")
    acq = (geometry.row_dir, geometry.col_dir, geometry.normal)
    if frame == "acquisition":
        e1, e2, e3 = acq
    else:  # the patient axes nearest to the acquisition axes, signs kept
        best = max(
            itertools.permutations(range(3)),
            key=lambda perm: sum(abs(float(a[i])) for a, i in zip(acq, perm, strict=True)),
        )
        axes = []
        for a, i in zip(acq, best, strict=True):
            e = np.zeros(3)
            e[i] = 1.0 if a[i] >= 0 else -1.0
            axes.append(e)
        e1, e2, e3 = axes
    # Up is the head: flip the stack axis if it points to the feet.
    if e3[2] < 0:
        e3 = -e3
    return np.array(e1), np.array(e2), np.array(e3)


@dataclass(frozen=True, eq=False)
class ReformatGrid:
    """The isotropic mm grid reformats are sampled on.

    Along each frame axis, ``centers0[a]`` is the coordinate (patient position dotted with
    the axis) of the first grid line, ``counts[a]`` the number of lines ``spacing`` apart,
    and ``coverage[a]`` the physical extent of the stack along that axis (voxel edges; the
    stack's slab edges along the normal). Axis 2 (up) runs from the head down.
    """

    axes: tuple[np.ndarray, np.ndarray, np.ndarray]
    centers0: tuple[float, float, float]
    counts: tuple[int, int, int]
    spacing: float
    coverage: tuple[float, float, float]

    def coord(self, axis: int, i: float) -> float:
        step = -self.spacing if axis == 2 else self.spacing
        return self.centers0[axis] + i * step

    def index_of(self, axis: int, coord: float) -> float:
        step = -self.spacing if axis == 2 else self.spacing
        return (coord - self.centers0[axis]) / step


def reformat_grid(
    geometry: VolumeGeometry, frame: Frame = "acquisition", pixel_mm: float | None = None
) -> ReformatGrid:
    """Grid covering the whole stack in ``frame``, ``pixel_mm`` apart (default: the finer
    in-plane pixel spacing)."""
    axes = _frame_axes(geometry, frame)
    s = float(pixel_mm) if pixel_mm is not None else min(geometry.pixel_spacing)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"reformat pixel size must be finite and > 0, got {pixel_mm!r}")
    rows, cols = geometry.shape
    rs, cs = geometry.pixel_spacing
    corner = np.array(
        [[0, 0], [0, cols - 1], [rows - 1, 0], [rows - 1, cols - 1]], dtype=np.float64
    )
    inplane = corner[:, 1:2] * cs * geometry.row_dir + corner[:, 0:1] * rs * geometry.col_dir
    pts = geometry.positions[:, None, :] + inplane[None, :, :]  # (N, 4, 3) voxel centres
    th = np.asarray(geometry.thicknesses, dtype=np.float64)
    centers0, counts, coverage = [], [], []
    for a, e in enumerate(axes):
        proj = pts @ e  # (N, 4)
        # Half a voxel beyond the outermost centres: voxel edges along this axis.
        half = (
            abs(float(geometry.row_dir @ e)) * cs / 2.0
            + abs(float(geometry.col_dir @ e)) * rs / 2.0
            + np.abs(float(geometry.normal @ e)) * th / 2.0
        )
        lo = float(np.min(proj.min(axis=1) - half))
        hi = float(np.max(proj.max(axis=1) + half))
        span = hi - lo
        n = max(1, math.ceil(span / s - 1e-6))
        mid = (lo + hi) / 2.0
        first = mid + (n - 1) / 2.0 * s if a == 2 else mid - (n - 1) / 2.0 * s
        centers0.append(first)
        counts.append(n)
        coverage.append(span)
    return ReformatGrid(
        axes=axes,
        centers0=tuple(centers0),
        counts=tuple(counts),
        spacing=s,
        coverage=tuple(coverage),
    )


@dataclass(frozen=True, eq=False)
class ViewPlane:
    """A displayed image in patient space: pixel ``(x, y)`` is at
    ``origin + x * col_mm * right + y * row_mm * down``."""

    origin: np.ndarray
    right: np.ndarray
    down: np.ndarray
    pixel_spacing: tuple[float, float]  # (row_mm, col_mm)
    shape: tuple[int, int]  # (rows, cols)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.right, self.down)

    def to_patient(self, x: float, y: float) -> np.ndarray:
        """Patient position (mm) of image point ``(x, y)``."""
        rs, cs = self.pixel_spacing
        return self.origin + x * cs * self.right + y * rs * self.down

    def to_pixel(self, point: Sequence[float]) -> Point:
        """Image point ``(x, y)`` of a patient position (projected onto the plane)."""
        rs, cs = self.pixel_spacing
        d = np.asarray(point, dtype=np.float64) - self.origin
        return float(d @ self.right) / cs, float(d @ self.down) / rs

    def grid(self) -> np.ndarray:
        """Patient positions of every pixel centre, (rows, cols, 3)."""
        rows, cols = self.shape
        rs, cs = self.pixel_spacing
        y = np.arange(rows, dtype=np.float64)[:, None, None] * rs * self.down
        x = np.arange(cols, dtype=np.float64)[None, :, None] * cs * self.right
        return self.origin + y + x

    def orientation_labels(self) -> dict[str, str]:
        """Patient-direction letters for the left, right, top and bottom edges."""
        return edge_labels(self.right, self.down)


def _check_plane(plane: str) -> None:
    if plane not in PLANES:
        raise ValueError(f"Unknown plane {plane!r}; choose one of {list(PLANES)}")


def n_positions(geometry: VolumeGeometry, plane: Plane, frame: Frame = "acquisition") -> int:
    """How many indices a plane has (slices for axial, grid lines for the reformats)."""
    _check_plane(plane)
    if plane == "axial":
        return geometry.n_slices
    grid = reformat_grid(geometry, frame)
    return grid.counts[1] if plane == "coronal" else grid.counts[0]


def view_plane(
    geometry: VolumeGeometry,
    plane: Plane,
    index: int,
    frame: Frame = "acquisition",
    pixel_mm: float | None = None,
) -> ViewPlane:
    """Where the image of ``plane`` at ``index`` lies in patient space."""
    _check_plane(plane)
    if plane == "axial":
        if not 0 <= index < geometry.n_slices:
            raise ValueError(f"axial index {index} outside 0..{geometry.n_slices - 1}")
        return ViewPlane(
            origin=np.array(geometry.positions[index]),
            right=np.array(geometry.row_dir),
            down=np.array(geometry.col_dir),
            pixel_spacing=geometry.pixel_spacing,
            shape=geometry.shape,
        )
    g = reformat_grid(geometry, frame, pixel_mm)
    e1, e2, e3 = g.axes
    fixed, across = (1, 0) if plane == "coronal" else (0, 1)
    if not 0 <= index < g.counts[fixed]:
        raise ValueError(f"{plane} index {index} outside 0..{g.counts[fixed] - 1}")
    coords = [g.coord(0, 0), g.coord(1, 0), g.coord(2, 0)]
    coords[fixed] = g.coord(fixed, index)
    origin = coords[0] * e1 + coords[1] * e2 + coords[2] * e3
    return ViewPlane(
        origin=origin,
        right=np.array(g.axes[across]),
        down=-e3,
        pixel_spacing=(g.spacing, g.spacing),
        shape=(g.counts[2], g.counts[across]),
    )


def extent_mm(
    geometry: VolumeGeometry, plane: Plane, frame: Frame = "acquisition"
) -> tuple[float, float]:
    """(height, width) in mm of what a view of ``plane`` shows: the stack's physical extent
    (voxel edges, slab edges along the normal); the reformat image is that rounded up to
    whole pixels. For axial, the slice's field of view."""
    _check_plane(plane)
    if plane == "axial":
        rows, cols = geometry.shape
        rs, cs = geometry.pixel_spacing
        return rows * rs, cols * cs
    g = reformat_grid(geometry, frame)
    across = 0 if plane == "coronal" else 1
    return g.coverage[2], g.coverage[across]


# --------------------------------------------------------------------------- cross reference


def _clip_line(a: float, b: float, c: float, shape: tuple[int, int]) -> tuple[Point, Point] | None:
    """The segment of a*x + b*y + c = 0 inside the image's pixel edges, or None."""
    rows, cols = shape
    x0, x1, y0, y1 = -0.5, cols - 0.5, -0.5, rows - 0.5
    pts: list[Point] = []
    tol = 1e-9
    if abs(b) > tol:
        for x in (x0, x1):
            y = -(a * x + c) / b
            if y0 - 1e-6 <= y <= y1 + 1e-6:
                pts.append((x, y))
    if abs(a) > tol:
        for y in (y0, y1):
            x = -(b * y + c) / a
            if x0 - 1e-6 <= x <= x1 + 1e-6:
                pts.append((x, y))
    if len(pts) < 2:
        return None
    p, q = max(
        itertools.combinations(pts, 2),
        key=lambda pq: math.hypot(pq[0][0] - pq[1][0], pq[0][1] - pq[1][1]),
    )
    if math.hypot(p[0] - q[0], p[1] - q[1]) < 1e-6:
        return None
    return p, q


def cross_reference(
    geometry: VolumeGeometry,
    plane: Plane,
    index: int,
    on_plane: Plane = "axial",
    on_index: int = 0,
    frame: Frame = "acquisition",
) -> tuple[Point, Point] | None:
    """Where the image of (``plane``, ``index``) cuts the image of (``on_plane``,
    ``on_index``): a segment ``((x0, y0), (x1, y1))`` in the pixels of the latter, or None
    when the planes are parallel or meet outside it.

    On a tilted (sheared) stack, a coronal plane cuts successive axial slices at different
    rows, so the line depends on ``on_index``.
    """
    a_view = view_plane(geometry, plane, index, frame)
    b_view = view_plane(geometry, on_plane, on_index, frame)
    n = a_view.normal
    rs, cs = b_view.pixel_spacing
    a = cs * float(n @ b_view.right)
    b = rs * float(n @ b_view.down)
    c = float(n @ (b_view.origin - a_view.origin))
    if math.hypot(a, b) < 1e-9:
        return None
    return _clip_line(a, b, c, b_view.shape)


def locate(
    geometry: VolumeGeometry, point: Sequence[float], frame: Frame = "acquisition"
) -> dict[str, int]:
    """The index of each plane whose image passes nearest to a patient ``point`` (mm), for
    linked cursors: ``{"axial": slice, "coronal": i, "sagittal": j}`` (clipped to range)."""
    p = np.asarray(point, dtype=np.float64)
    k = int(np.argmin(np.abs(geometry.offsets - float(p @ geometry.normal))))
    g = reformat_grid(geometry, frame)
    out = {"axial": k}
    for plane, axis in (("sagittal", 0), ("coronal", 1)):
        i = round(g.index_of(axis, float(p @ g.axes[axis])))
        out[plane] = int(min(max(i, 0), g.counts[axis] - 1))
    return out


# --------------------------------------------------------------------------- orientation letters

_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))  # patient LPS axes: -x/+x, -y/+y, -z/+z


def direction_letter(v: Sequence[float]) -> str:
    """Patient direction of a vector, main axis first ('L', 'P', 'HP', ...); components
    under a quarter of the length are left out, at most two letters."""
    a = np.asarray(v, dtype=float)
    order = np.argsort(-np.abs(a), kind="stable")
    letters = [_LETTERS[k][1 if a[k] > 0 else 0] for k in order if abs(a[k]) > 0.25]
    return "".join(letters[:2])


def edge_labels(right: Sequence[float], down: Sequence[float]) -> dict[str, str]:
    """Letters for the left/right/top/bottom image edges from the patient directions of
    screen right and screen down."""
    r = np.asarray(right, dtype=float)
    d = np.asarray(down, dtype=float)
    return {
        "left": direction_letter(-r),
        "right": direction_letter(r),
        "top": direction_letter(-d),
        "bottom": direction_letter(d),
    }
