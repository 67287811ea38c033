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

import math
from dataclasses import dataclass

import numpy as np

from ichviewer.core.constants import AIR_HU
from ichviewer.core.mpr_geometry import (
    FRAMES,
    PLANES,
    SLAB_MODES,
    Frame,
    Plane,
    Point,
    SlabMode,
    VolumeGeometry,
)
from ichviewer.core.mpr_planes import (
    ReformatGrid,
    ViewPlane,
    cross_reference,
    direction_letter,
    edge_labels,
    extent_mm,
    locate,
    n_positions,
    reformat_grid,
    view_plane,
)

__all__ = [
    "FRAMES",
    "PLANES",
    "SLAB_MODES",
    "Frame",
    "Plane",
    "Point",
    "Reformat",
    "ReformatGrid",
    "SlabMode",
    "ViewPlane",
    "VolumeGeometry",
    "cross_reference",
    "direction_letter",
    "edge_labels",
    "extent_mm",
    "locate",
    "n_positions",
    "reformat",
    "reformat_grid",
    "sample",
    "view_plane",
]


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
