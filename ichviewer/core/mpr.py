"""Multiplanar reformats (coronal, sagittal, thick slabs) of a sorted axial stack, in mm.

Every sample is taken in patient coordinates (DICOM LPS, mm): a point of the output plane
is located between the two slices that bracket it along the slice normal, by their real
positions, and bilinearly inside each of them through that slice's own
ImagePositionPatient. So

* uneven slice spacing is interpolated by position, not by index;
* slice thickness bounds the stack: the end slices stand for half their thickness beyond
  their centres (nothing is invented past them);
* gantry tilt is corrected: a tilted stack is sheared (each slice's origin moves along the
  column direction as the table advances, so the line through successive
  ImagePositionPatient is not the slice normal). Sampling by patient position, never by
  ``volume[:, row, :]``, removes the shear: a structure running along the slice normal is
  straight up and down in the reformat.

Reformat frames
---------------
``frame="acquisition"`` (default) reformats on the slices' own orthonormal axes: screen
right of a coronal is the row direction (patient left for a standard axial), a sagittal's
is the column direction (posterior), and up is the slice normal (head). The reformats are
then exactly perpendicular to the axial slices, as on the scanner console: an axial slice
is a horizontal line on them, and a tilted study keeps its tilted (e.g. orbitomeatal)
baseline. ``frame="patient"`` uses the patient axes nearest to those (x, y, z): the table
frame, in which a tilted study's axial slices are oblique lines. Without tilt the two
frames are the same.

Pixel coordinates are ``(x, y)`` = ``(column, row)`` with pixel centres on integers, and
pixel spacings are DICOM order ``(row_mm, column_mm)``, as in :mod:`ichviewer.core.measure`.
Axial indices are slice indices; a coronal index counts reformat rows of the acquisition
grid from anterior to posterior (for a standard axial it is the axial row index when the
stack is not tilted), a sagittal index counts columns from patient right to left.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ichviewer.core.constants import AIR_HU

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[str, ...] = ("axial", "coronal", "sagittal")
Frame = Literal["acquisition", "patient"]
FRAMES: tuple[str, ...] = ("acquisition", "patient")
SlabMode = Literal["mip", "mean"]
SLAB_MODES: tuple[str, ...] = ("mip", "mean")

Point = tuple[float, float]


# --------------------------------------------------------------------------- geometry


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if not (n > 1e-6 and math.isfinite(n)):
        raise ValueError(f"{what} is zero or not finite: {v.tolist()}")
    return v / n


@dataclass(frozen=True, eq=False)
class VolumeGeometry:
    """Where each voxel of an (N, rows, cols) stack lies in patient space.

    Parameters
    ----------
    positions : (N, 3) ImagePositionPatient of each slice (centre of its first pixel), mm,
        sorted along the slice normal (ascending, as :func:`ichviewer.io.scan` sorts).
    orientation : ImageOrientationPatient (row cosines, then column cosines).
    pixel_spacing : PixelSpacing, (row spacing, column spacing) in mm.
    shape : (rows, cols) of every slice.
    thicknesses : SliceThickness of each slice (mm); None: the median slice gap.
    approximate : why any of the above was assumed rather than read (empty: all read).
    """

    positions: np.ndarray
    orientation: tuple[float, ...]
    pixel_spacing: tuple[float, float]
    shape: tuple[int, int]
    thicknesses: tuple[float, ...] | None = None
    approximate: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        pos = np.array(self.positions, dtype=np.float64).reshape(-1, 3)
        if pos.shape[0] == 0 or not np.all(np.isfinite(pos)):
            raise ValueError("slice positions must be a non-empty (N, 3) array of finite mm")
        pos.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        iop = tuple(float(v) for v in self.orientation)
        if len(iop) != 6:
            raise ValueError(f"ImageOrientationPatient needs 6 values, got {len(iop)}")
        object.__setattr__(self, "orientation", iop)
        rs, cs = (float(v) for v in self.pixel_spacing)
        if not (rs > 0 and cs > 0 and math.isfinite(rs) and math.isfinite(cs)):
            raise ValueError(f"PixelSpacing must be finite and > 0, got {self.pixel_spacing}")
        object.__setattr__(self, "pixel_spacing", (rs, cs))
        rows, cols = (int(v) for v in self.shape)
        if rows < 1 or cols < 1:
            raise ValueError(f"slice shape must be positive, got {self.shape}")
        object.__setattr__(self, "shape", (rows, cols))
        row = _unit(np.asarray(iop[:3]), "ImageOrientationPatient row direction")
        col = np.asarray(iop[3:])
        col = _unit(col - (col @ row) * row, "ImageOrientationPatient column direction")
        normal = np.cross(row, col)
        for name, v in (("row_dir", row), ("col_dir", col), ("normal", normal)):
            v.setflags(write=False)
            object.__setattr__(self, name, v)
        offsets = pos @ normal
        if np.any(np.diff(offsets) < -1e-6):
            raise ValueError("slice positions must be sorted along the slice normal (ascending)")
        offsets.setflags(write=False)
        object.__setattr__(self, "offsets", offsets)
        if self.thicknesses is None:
            gaps = np.diff(offsets)
            gaps = gaps[gaps > 1e-6]
            th = float(np.median(gaps)) if gaps.size else 0.0
            thick = (th,) * len(pos)
        else:
            thick = tuple(float(t) for t in self.thicknesses)
            if len(thick) != len(pos):
                raise ValueError(f"{len(thick)} slice thicknesses for {len(pos)} slices")
            if not all(t >= 0 and math.isfinite(t) for t in thick):
                raise ValueError(f"slice thicknesses must be finite and >= 0, got {thick}")
        object.__setattr__(self, "thicknesses", thick)
        object.__setattr__(self, "approximate", tuple(self.approximate))

    # Derived in __post_init__.
    row_dir: np.ndarray = field(init=False, repr=False)  # unit, screen right (+column)
    col_dir: np.ndarray = field(init=False, repr=False)  # unit, screen down (+row)
    normal: np.ndarray = field(init=False, repr=False)  # row_dir x col_dir
    offsets: np.ndarray = field(init=False, repr=False)  # positions along the normal, mm

    @property
    def n_slices(self) -> int:
        return int(self.positions.shape[0])

    @property
    def volume_shape(self) -> tuple[int, int, int]:
        return (self.n_slices, *self.shape)

    @property
    def tilt_deg(self) -> float:
        """Gantry tilt: the angle between the slice normal and the patient's head-foot axis
        (0 for a plain axial)."""
        return math.degrees(math.acos(min(1.0, abs(float(self.normal[2])))))

    @property
    def shear_deg(self) -> float:
        """Angle between the slice normal and the line from the first slice's position to
        the last one's: what must be corrected (0 for an unsheared stack)."""
        d = self.positions[-1] - self.positions[0]
        n = float(np.linalg.norm(d))
        if n < 1e-6:
            return 0.0
        return math.degrees(math.acos(min(1.0, abs(float(d @ self.normal)) / n)))

    def voxel_to_patient(self, k: float, row: float, col: float) -> np.ndarray:
        """Patient position (mm) of slice ``k`` (an integer), pixel ``(row, col)``."""
        rs, cs = self.pixel_spacing
        return self.positions[int(k)] + col * cs * self.row_dir + row * rs * self.col_dir

    def stack_extent_mm(self) -> tuple[float, float]:
        """(centre span, coverage) along the slice normal: first to last slice centre, and
        that plus half the end slices' thicknesses (what the stack images)."""
        span = float(self.offsets[-1] - self.offsets[0])
        th = self.thicknesses or (0.0,)
        return span, span + th[0] / 2.0 + th[-1] / 2.0


# --------------------------------------------------------------------------- sampling


def _bilinear(img: np.ndarray, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of a 2-D image at fractional (row, col); inside = within its pixel edges."""
    h, w = img.shape
    ok = (r >= -0.5) & (r <= h - 0.5) & (c >= -0.5) & (c <= w - 0.5)
    rc = np.clip(r, 0.0, h - 1.0)
    cc = np.clip(c, 0.0, w - 1.0)
    r0 = np.clip(np.floor(rc).astype(np.intp), 0, max(h - 2, 0))
    c0 = np.clip(np.floor(cc).astype(np.intp), 0, max(w - 2, 0))
    r1 = np.minimum(r0 + 1, h - 1)
    c1 = np.minimum(c0 + 1, w - 1)
    fr = rc - r0
    fc = cc - c0
    top = img[r0, c0] * (1.0 - fc) + img[r0, c1] * fc
    bot = img[r1, c0] * (1.0 - fc) + img[r1, c1] * fc
    return top * (1.0 - fr) + bot * fr, ok


def sample(
    volume: np.ndarray, geometry: VolumeGeometry, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """HU at patient positions ``points`` (..., 3) mm: linear between the two slices that
    bracket each point along the normal (by real position), bilinear within each slice.

    Returns (values float32, valid bool), both of shape ``points.shape[:-1]``. A point is
    valid when it lies within the stack's coverage (end slices reach half their thickness
    beyond their centres) and inside the nearer slice's field of view; invalid values are 0.
    """
    vol = np.asarray(volume)
    if vol.shape != geometry.volume_shape:
        raise ValueError(f"volume is {vol.shape}, geometry describes {geometry.volume_shape}")
    pts = np.asarray(points, dtype=np.float64)
    lead = pts.shape[:-1]
    pts = pts.reshape(-1, 3)
    p = geometry.offsets
    th = geometry.thicknesses or (0.0,) * len(p)
    n = len(p)
    s = pts @ geometry.normal
    eps = 1e-6
    inside = (s >= p[0] - th[0] / 2.0 - eps) & (s <= p[-1] + th[-1] / 2.0 + eps)
    if n == 1:
        k0 = np.zeros(s.shape, dtype=np.intp)
        w = np.zeros(s.shape)
    else:
        k0 = np.clip(np.searchsorted(p, s, side="right") - 1, 0, n - 2)
        d = p[k0 + 1] - p[k0]
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(d > 0, (s - p[k0]) / np.where(d > 0, d, 1.0), 0.0)
        w = np.clip(w, 0.0, 1.0)
    k1 = np.minimum(k0 + 1, n - 1)
    rs, cs = geometry.pixel_spacing
    oks = []
    vals = []
    for kk in (k0, k1):
        v = np.zeros(len(pts), dtype=np.float64)
        ok = np.zeros(len(pts), dtype=bool)
        for k in np.unique(kk):
            sel = kk == k
            q = pts[sel] - geometry.positions[k]
            vk, okk = _bilinear(vol[k], (q @ geometry.col_dir) / rs, (q @ geometry.row_dir) / cs)
            v[sel] = vk
            ok[sel] = okk
        vals.append(v)
        oks.append(ok)
    near_ok = np.where(w < 0.5, oks[0], oks[1])
    both = oks[0] & oks[1]
    values = np.where(both, (1.0 - w) * vals[0] + w * vals[1], np.where(oks[0], vals[0], vals[1]))
    valid = inside & near_ok
    values = np.where(valid, values, 0.0)
    return values.astype(np.float32).reshape(lead), valid.reshape(lead)


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


@dataclass(frozen=True, eq=False)
class Reformat:
    """A 2-D view of the volume: float32 HU (rows, cols), ``valid`` where the stack had
    data (elsewhere air), its pixel spacing (row_mm, col_mm) and where it lies."""

    image: np.ndarray
    valid: np.ndarray
    pixel_spacing: tuple[float, float]
    plane: ViewPlane

    @property
    def right(self) -> np.ndarray:
        """Patient direction of screen right (unit vector, LPS)."""
        return self.plane.right

    @property
    def down(self) -> np.ndarray:
        """Patient direction of screen down (unit vector, LPS)."""
        return self.plane.down

    def orientation_labels(self) -> dict[str, str]:
        return self.plane.orientation_labels()


def reformat(
    volume: np.ndarray,
    geometry: VolumeGeometry,
    plane: Plane = "coronal",
    index: int = 0,
    slab_mm: float = 0.0,
    mode: SlabMode = "mip",
    *,
    frame: Frame = "acquisition",
    pixel_mm: float | None = None,
    fill: float = AIR_HU,
) -> Reformat:
    """The ``plane`` view at ``index``, optionally as a thick slab.

    Coronal and sagittal come out on an isotropic grid of ``pixel_mm`` (default the finer
    in-plane pixel spacing), head up. ``slab_mm > 0`` combines the planes within
    +/- slab_mm / 2 along the view's normal (one every ``pixel_mm``; for axial, every
    min(pixel spacing) between the slices) by maximum (``"mip"``) or ``"mean"``. Where the
    stack has no data the image is ``fill`` (air).
    """
    if mode not in SLAB_MODES:
        raise ValueError(f"Unknown slab mode {mode!r}; choose one of {list(SLAB_MODES)}")
    slab = float(slab_mm)
    if not (slab >= 0 and math.isfinite(slab)):
        raise ValueError(f"slab thickness must be finite and >= 0 mm, got {slab_mm!r}")
    vol = np.asarray(volume)
    if vol.shape != geometry.volume_shape:
        raise ValueError(f"volume is {vol.shape}, geometry describes {geometry.volume_shape}")
    view = view_plane(geometry, plane, index, frame, pixel_mm)
    if plane == "axial" and slab == 0:
        img = np.array(vol[index], dtype=np.float32)
        return Reformat(img, np.ones(img.shape, dtype=bool), view.pixel_spacing, view)
    step = pixel_mm if pixel_mm is not None else min(geometry.pixel_spacing)
    m = int(math.floor(slab / step + 1e-6)) + 1 if slab > 0 else 1
    offsets = np.linspace(-slab / 2.0, slab / 2.0, m) if m > 1 else np.zeros(1)
    base = view.grid()
    normal = view.normal
    acc: np.ndarray | None = None
    count = np.zeros(view.shape, dtype=np.int32)
    for off in offsets:
        vals, ok = sample(vol, geometry, base + off * normal)
        if acc is None:
            acc = np.where(ok, vals, -np.inf if mode == "mip" else 0.0).astype(np.float32)
        elif mode == "mip":
            np.maximum(acc, np.where(ok, vals, -np.inf), out=acc)
        else:
            acc += np.where(ok, vals, 0.0)
        count += ok
    assert acc is not None
    valid = count > 0
    if mode == "mean":
        acc = acc / np.maximum(count, 1)
    img = np.where(valid, acc, np.float32(fill)).astype(np.float32)
    return Reformat(img, valid, view.pixel_spacing, view)


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
