"""Where a sorted axial stack lies in patient space (DICOM LPS, mm): :class:`VolumeGeometry`,
and the plane, frame and slab-mode names the reformats use.

Split out of :mod:`ichviewer.core.mpr`, which re-exports everything here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

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
