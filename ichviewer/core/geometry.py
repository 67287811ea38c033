"""Slice geometry from DICOM patient coordinates: normals, ordering, spacing, gantry tilt."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal of an image plane from ImageOrientationPatient (row cosines, column cosines)."""
    iop = np.asarray(orientation, dtype=np.float64)
    if iop.shape != (6,):
        raise ValueError(f"ImageOrientationPatient needs 6 values, got {iop.size}")
    normal = np.cross(iop[:3], iop[3:])
    norm = float(np.linalg.norm(normal))
    if not norm > 1e-6 or not math.isfinite(norm):
        raise ValueError(f"ImageOrientationPatient {list(orientation)} has parallel or zero axes")
    return normal / norm


def project_positions(positions: Sequence[Sequence[float]], normal: np.ndarray) -> np.ndarray:
    """Distance of each ImagePositionPatient along the slice normal, in mm."""
    return np.asarray(positions, dtype=np.float64).reshape(-1, 3) @ np.asarray(normal)


def gantry_tilt_deg(orientation: Sequence[float]) -> float:
    """Angle between the slice normal and the patient's head-foot axis (0 for a plain axial).

    For an axial head CT this is the gantry tilt (the column direction leans out of the
    axial plane). For sagittal or coronal planes it is about 90 and means nothing here.
    """
    n = slice_normal(orientation)
    return math.degrees(math.acos(min(1.0, abs(float(n[2])))))


def slice_gaps(sorted_positions: Sequence[float]) -> np.ndarray:
    """Distances between consecutive sorted slice positions (mm), length N-1."""
    return np.diff(np.asarray(sorted_positions, dtype=np.float64))


def is_uniform(gaps: np.ndarray, tol_mm: float = 0.05) -> bool:
    """True when all gaps agree within ``tol_mm`` (no missing or uneven slices)."""
    return gaps.size == 0 or float(gaps.max() - gaps.min()) <= tol_mm
