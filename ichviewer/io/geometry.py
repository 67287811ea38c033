"""The patient-space geometry of a loaded series, for reformats and measurements in mm."""

from __future__ import annotations

import math

import numpy as np

from ichviewer.core.mpr import VolumeGeometry
from ichviewer.io.model import SeriesInfo

#: What a plain axial looks like, assumed when ImageOrientationPatient is missing.
AXIAL_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def volume_geometry(series: SeriesInfo) -> VolumeGeometry:
    """Where each voxel of ``SeriesReader(series).volume`` lies, from the sorted slices'
    ImagePositionPatient, ImageOrientationPatient, PixelSpacing and SliceThickness.

    Whatever a file does not say is assumed and listed in ``approximate`` (for the view to
    show): a plain axial orientation, 1 mm pixels, slices stacked at ``positions_mm``.
    """
    approx: list[str] = []
    iop = series.orientation
    if iop is None or len(iop) != 6:
        approx.append("(0020,0037) Image Orientation (Patient) missing: axial assumed")
        iop = AXIAL_IOP
    ps = series.pixel_spacing
    if ps is None or not all(v and v > 0 and math.isfinite(v) for v in ps):
        approx.append("(0028,0030) Pixel Spacing missing: 1 mm assumed")
        ps = (1.0, 1.0)
    if series.sorted_by == "position" and all(s.ipp is not None for s in series.slices):
        positions = np.array([s.ipp for s in series.slices], dtype=np.float64)
    else:
        approx.append(
            "(0020,0032) Image Position (Patient) missing: slices stacked by "
            f"{series.sorted_by.replace('_', ' ')}"
        )
        row, col = np.asarray(iop[:3], dtype=np.float64), np.asarray(iop[3:], dtype=np.float64)
        normal = np.cross(row, col)
        normal /= np.linalg.norm(normal)
        positions = np.outer(np.asarray(series.positions_mm, dtype=np.float64), normal)
    default = series.slice_thickness
    thick = [s.slice_thickness or default for s in series.slices]
    thicknesses = None if any(t is None or t <= 0 for t in thick) else tuple(thick)
    return VolumeGeometry(
        positions=positions,
        orientation=tuple(iop),
        pixel_spacing=(float(ps[0]), float(ps[1])),
        shape=(series.rows, series.columns),
        thicknesses=thicknesses,
        approximate=tuple(approx),
    )
