"""Writing synthetic studies to disk as a scanner would: one DICOM file per slice (our
series layout with real UIDs, or RSNA 2019's flat ``ID_<hex>.dcm`` layout), and the labels
CSV in RSNA's long ``ID_<image>_<label>,value`` format. Generation is in training.synthetic.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ichviewer.core.labels import LABELS

if TYPE_CHECKING:
    from training.synthetic import SyntheticStudy

LAYOUTS = ("series", "rsna")


@contextmanager
def _rsna_style_uids():
    """Let pydicom write RSNA-style 'ID_xxx' UIDs (not valid UI values, like the real set)."""
    from pydicom import config

    # Values set on a Dataset are checked with the *reading* mode, files with the writing one.
    old = config.settings.reading_validation_mode, config.settings.writing_validation_mode
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    try:
        yield
    finally:
        config.settings.reading_validation_mode, config.settings.writing_validation_mode = old


def _dataset(study: SyntheticStudy, i: int, layout: str, index_name: str):  # noqa: ANN202
    """The DICOM dataset (pydicom FileDataset) of slice i."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    u = study.uids
    ids = u["rsna"] if layout == "rsna" else u
    sop = ids["sop_uids"][i]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = u["sop_uids"][i]  # the real RSNA files do the same
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(index_name, {}, file_meta=meta, preamble=b"\0" * 128)
    n, rows, cols = study.hu.shape
    date = u["study_date"]
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = date
    ds.StudyTime = ds.SeriesTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "ICH Viewer synthetic phantom"
    ds.InstitutionName = "SYNTHETIC"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "CT HEAD WITHOUT CONTRAST (SYNTHETIC)"
    ds.SeriesDescription = f"HEAD {study.slice_thickness:g}mm SYNTHETIC PHANTOM"
    ds.PatientName = u["patient_name"]
    ds.PatientID = ids["patient_id"]
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = f"{study.slice_thickness:g}"
    ds.KVP = "120"
    ds.ConvolutionKernel = "SOFT"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = ids["study_uid"]
    ds.SeriesInstanceUID = ids["series_uid"]
    ds.StudyID = "1"
    ds.SeriesNumber = 2
    ds.InstanceNumber = i + 1
    ps = study.pixel_spacing
    ds.ImagePositionPatient = [
        f"{-cols * ps / 2 + ps / 2:.4f}",
        f"{-rows * ps / 2 + ps / 2:.4f}",
        f"{study.z_mm[i]:.2f}",
    ]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = u["frame_uid"]
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{study.z_mm[i]:.2f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.PixelSpacing = [f"{ps:.6f}", f"{ps:.6f}"]
    ds.BitsAllocated = 16
    ds.WindowCenter, ds.WindowWidth = "40", "80"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    stored = study.hu[i].astype(np.int32) + 1024
    if int(study.hu.min()) < -1024:  # RSNA-style signed 16-bit with -2000 padding
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
        arr = stored.astype(np.int16)
    else:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        arr = np.clip(stored, 0, 4095).astype(np.uint16)
    ds.PixelData = arr.tobytes()
    return ds, arr


def write_study(
    study: SyntheticStudy, out_dir: Path, *, layout: str = "series", compress: bool = False
) -> list[Path]:
    """Write the slices as DICOM files; return their paths (slice order).

    ``series``: out_dir/0001.dcm ... with real DICOM UIDs. ``rsna``: out_dir/ID_<10 hex>.dcm
    with SOPInstanceUID = that ID and RSNA-style study/series/patient IDs. ``compress``
    writes RLE Lossless (the committed demo).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with _rsna_style_uids():
        for i in range(study.hu.shape[0]):
            name = study.uids["rsna"]["sop_uids"][i] if layout == "rsna" else f"{i + 1:04d}"
            path = out_dir / f"{name}.dcm"
            ds, arr = _dataset(study, i, layout, str(path))
            if compress:
                from pydicom.uid import RLELossless

                ds.compress(
                    RLELossless, arr, encoding_plugin="pydicom", generate_instance_uid=False
                )
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def write_labels_csv(rows: Iterable[tuple[str, np.ndarray]], path: Path) -> None:
    """RSNA long format: header ``ID,Label``; six rows ``<id>_<label>,0|1`` per slice.

    ``id`` is used as given: ``ID_<hex>`` for the rsna layout, ``ID_<SOPInstanceUID>`` for
    series folders. Written to a temporary file and renamed, so a reader never sees half.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["ID", "Label"])
            for ident, lab in rows:
                lab = np.asarray(lab).reshape(-1)
                if lab.size != len(LABELS):
                    raise ValueError(f"{ident}: need {len(LABELS)} labels, got {lab.size}")
                for name, v in zip(LABELS, lab, strict=True):
                    w.writerow([f"{ident}_{name}", int(bool(v))])
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a labels file is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def image_ids(study: SyntheticStudy, layout: str = "series") -> list[str]:
    """The label-CSV image IDs of a study's slices in the given layout."""
    if layout == "rsna":
        return list(study.uids["rsna"]["sop_uids"])
    return ["ID_" + u for u in study.uids["sop_uids"]]
