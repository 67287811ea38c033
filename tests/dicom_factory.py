"""Hand-built CT datasets for edge cases (pydicom's own test style)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)


def ct_dataset(
    hu: np.ndarray,
    *,
    z: float = 0.0,
    series_uid: str | None = None,
    study_uid: str = "1.2.3.4",
    instance: int = 1,
    intercept: float = -1024.0,
    slope: float = 1.0,
    spacing: float = 0.5,
    iop: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    description: str = "TEST HEAD",
    modality: str = "CT",
    signed: bool = False,
) -> Dataset:
    """A single-frame CT slice whose stored values are (hu - intercept) / slope."""
    stored = np.rint((np.asarray(hu, dtype=np.float64) - intercept) / slope)
    stored = stored.astype(np.int16 if signed else np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid or "1.2.3.4.5"
    ds.Modality = modality
    ds.SeriesDescription = description
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "SECRET-ID-123"
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [-64.0, -64.0, float(z)]
    ds.ImageOrientationPatient = list(iop)
    ds.PixelSpacing = [spacing, spacing]
    ds.SliceThickness = 5.0
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleIntercept = intercept
    ds.RescaleSlope = slope
    ds.PixelData = stored.tobytes()
    return ds


def write_series(
    folder: Path,
    n: int = 6,
    size: int = 32,
    *,
    gap: float = 5.0,
    series_uid: str = "1.2.3.4.5",
    names=None,
    **kw,
) -> list[Path]:
    """n slices whose HU encode their index: slice i is filled with 10*i HU."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        hu = np.full((size, size), 10.0 * i)
        ds = ct_dataset(hu, z=i * gap, instance=i + 1, series_uid=series_uid, **kw)
        p = folder / (names[i] if names else f"slice{i:03d}.dcm")
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths
