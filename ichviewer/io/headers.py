"""Read one file's header (pixels deferred) and turn it into slice references, or refuse it."""

from __future__ import annotations

import logging
import os
from typing import Any

import pydicom
import pydicom.config
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, MediaStorageDirectoryStorage

from ichviewer.errors import DicomReadError
from ichviewer.io.model import PixelLayout, SliceRef
from ichviewer.io.sources import display_name, is_zip_source, open_source

logger = logging.getLogger("ichviewer.io")

# Real data (RSNA) carries UIDs like 'ID_0ab5820b2a' and other small violations; pydicom
# would warn on every access, from worker threads where warnings filters are not
# thread-safe. Reading accepts them quietly: a viewer must show what it is given.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

#: Largest image we agree to allocate for: a 4096 x 4096 slice, 2**30 pixels in one file.
MAX_DIM = 4096
MAX_FILE_PIXELS = 2**30
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
#: Uncompressed transfer syntaxes -> is big endian.
NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2": False,  # implicit VR little endian
    "1.2.840.10008.1.2.1": False,  # explicit VR little endian
    "1.2.840.10008.1.2.2": True,  # explicit VR big endian (retired, still seen)
}


class HeaderRecord:
    """What one file contributes: its slices plus the series-level attributes."""

    __slots__ = ("slices", "attrs")

    def __init__(self, slices: list[SliceRef], attrs: dict[str, Any]) -> None:
        self.slices = slices
        self.attrs = attrs


def _read(source: str) -> Dataset:
    name = display_name(source)
    try:
        fp = open_source(source)
    except OSError as exc:
        raise DicomReadError(name, f"cannot open ({exc.strerror or exc})") from exc
    try:
        return pydicom.dcmread(fp, defer_size=1024)
    except InvalidDicomError:
        pass
    except Exception as exc:  # pydicom raises many types on broken files; all mean "unreadable"
        raise DicomReadError(name, f"unreadable or truncated DICOM ({exc})") from exc
    try:
        if not isinstance(fp, str):
            fp.seek(0)
        ds = pydicom.dcmread(fp, defer_size=1024, force=True)
    except Exception as exc:  # see above
        raise DicomReadError(name, "not a DICOM file") from exc
    if "SOPClassUID" not in ds and "Rows" not in ds:
        raise DicomReadError(name, "not a DICOM file (no DICM preamble and no image attributes)")
    return ds


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _first(value: Any) -> Any:
    """First item of a multi-valued element (RSNA stores WindowCenter as [36, 36])."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _frame_groups(ds: Dataset, i: int) -> tuple[Dataset | None, Dataset | None]:
    shared = ds.get("SharedFunctionalGroupsSequence")
    per = ds.get("PerFrameFunctionalGroupsSequence")
    return (shared[0] if shared else None, per[i] if per and i < len(per) else None)


def _group_value(groups: tuple[Dataset | None, Dataset | None], seq: str, attr: str) -> Any:
    """An attribute from the per-frame group, else the shared group (enhanced multi-frame)."""
    for g in (groups[1], groups[0]):
        if g is not None and seq in g and len(g[seq].value) and attr in g[seq][0]:
            return g[seq][0][attr].value
    return None


def _check(ds: Dataset, name: str) -> None:
    modality = str(ds.get("Modality", "") or "")
    if modality and modality != "CT":
        raise DicomReadError(name, f"(0008,0060) Modality is '{modality}'; only CT images are read")
    if not any(t in ds for t in PIXEL_TAGS):
        raise DicomReadError(name, "(7FE0,0010) Pixel Data is missing: not an image")
    for tag, kw in (("(0028,0010)", "Rows"), ("(0028,0011)", "Columns")):
        if kw not in ds or ds[kw].value in (None, ""):
            raise DicomReadError(name, f"{tag} {kw} is missing")
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if spp != 1 or not photometric.startswith("MONOCHROME"):
        raise DicomReadError(
            name,
            f"(0028,0004) Photometric Interpretation is '{photometric}' "
            f"with {spp} samples per pixel: colour images are not CT slices",
        )
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if (
        rows <= 0
        or cols <= 0
        or rows > MAX_DIM
        or cols > MAX_DIM
        or rows * cols * frames > MAX_FILE_PIXELS
    ):
        raise DicomReadError(
            name,
            f"image size {rows} x {cols} x {frames} frames is outside the accepted "
            f"range (at most {MAX_DIM} x {MAX_DIM}, {MAX_FILE_PIXELS} pixels per file)",
        )
    bits = int(ds.get("BitsAllocated", 16) or 16)
    if bits not in (8, 16, 32):
        raise DicomReadError(name, f"(0028,0100) Bits Allocated is {bits}; expected 8, 16 or 32")


def _check_decodable(ds: Dataset, name: str) -> str:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    ts = UID(str(ts)) if ts else UID("1.2.840.10008.1.2")
    if ts in NATIVE_SYNTAXES or ts == "1.2.840.10008.1.2.1.99":
        return str(ts)
    from pydicom.pixels.decoders.base import get_decoder

    try:
        available = get_decoder(ts).is_available
    except (NotImplementedError, ValueError):
        available = False
    if not available:
        raise DicomReadError(
            name,
            f"(0002,0010) Transfer Syntax '{ts.name}' cannot be decoded: no decoder "
            "plugin supports it (ask for the study in a lossless or uncompressed syntax)",
        )
    return str(ts)


def _layout(ds: Dataset, source: str, ts: str, frames: int, name: str) -> PixelLayout | None:
    """Offset and dtype of native pixel data, after checking the file holds all of it."""
    if ts not in NATIVE_SYNTAXES or is_zip_source(source):
        return None
    raw = ds._dict.get(0x7FE00010)
    tell = getattr(raw, "value_tell", None)
    if tell is None:
        return None
    bits = int(ds.BitsAllocated)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    frame_bytes = int(ds.Rows) * int(ds.Columns) * bits // 8
    expected = frame_bytes * frames
    have = min(int(raw.length), os.path.getsize(source) - tell)
    if have < expected:
        raise DicomReadError(
            name, f"(7FE0,0010) Pixel Data is truncated: {have} bytes, expected {expected}"
        )
    if bits == 8:
        return None  # rare in CT; let pydicom handle it
    endian = ">" if NATIVE_SYNTAXES[ts] else "<"
    dtype = f"{endian}{'i' if signed else 'u'}{bits // 8}"
    bits_stored = int(ds.get("BitsStored", bits) or bits)
    return PixelLayout(tell, dtype, bits_stored, signed, frame_bytes)


def read_header(source: str) -> HeaderRecord | None:
    """Parse one source into slices; None for files to skip quietly (DICOMDIR)."""
    name = display_name(source)
    ds = _read(source)
    if ds.get("SOPClassUID") == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        return None
    _check(ds, name)
    ts = _check_decodable(ds, name)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    layout = _layout(ds, source, ts, frames, name)

    sop = str(ds.get("SOPInstanceUID", "") or "") or name
    iop = _floats(ds.get("ImageOrientationPatient"), 6)
    ipp = _floats(ds.get("ImagePositionPatient"), 3)
    spacing = _floats(ds.get("PixelSpacing"), 2)
    thickness = ds.get("SliceThickness")
    thickness = float(thickness) if thickness not in (None, "") else None
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    inst = ds.get("InstanceNumber")
    inst = int(inst) if inst not in (None, "") else None
    common = dict(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        transfer_syntax=ts,
        bits_stored=int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
        instance_number=inst,
    )

    slices: list[SliceRef] = []
    if frames == 1:
        slices.append(
            SliceRef(
                source=source,
                frame=0,
                sop_instance_uid=sop,
                slope=slope,
                intercept=intercept,
                ipp=ipp,
                iop=iop,
                pixel_spacing=spacing,
                slice_thickness=thickness,
                layout=layout,
                **common,
            )
        )
    else:
        step = float(ds.get("SpacingBetweenSlices", thickness or 1.0) or 1.0)
        for i in range(frames):
            groups = _frame_groups(ds, i)
            f_iop = (
                _floats(
                    _group_value(groups, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
                )
                or iop
            )
            f_ipp = _floats(
                _group_value(groups, "PlanePositionSequence", "ImagePositionPatient"), 3
            )
            if f_ipp is None and ipp is not None and f_iop is not None:
                # Legacy multi-frame: frames stacked along the normal from the first position.
                from ichviewer.core.geometry import slice_normal

                n = slice_normal(f_iop)
                f_ipp = tuple(float(ipp[k] + i * step * n[k]) for k in range(3))
            f_spacing = (
                _floats(_group_value(groups, "PixelMeasuresSequence", "PixelSpacing"), 2) or spacing
            )
            f_thick = _group_value(groups, "PixelMeasuresSequence", "SliceThickness")
            f_slope = _group_value(groups, "PixelValueTransformationSequence", "RescaleSlope")
            f_icpt = _group_value(groups, "PixelValueTransformationSequence", "RescaleIntercept")
            slices.append(
                SliceRef(
                    source=source,
                    frame=i,
                    sop_instance_uid=f"{sop}#{i + 1}",
                    slope=float(f_slope) if f_slope is not None else slope,
                    intercept=float(f_icpt) if f_icpt is not None else intercept,
                    ipp=f_ipp,
                    iop=f_iop,
                    pixel_spacing=f_spacing,
                    slice_thickness=float(f_thick) if f_thick is not None else thickness,
                    layout=layout,
                    **common,
                )
            )

    attrs = {
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "") or "") or "(no series UID)",
        "study_instance_uid": str(ds.get("StudyInstanceUID", "") or ""),
        "modality": str(ds.get("Modality", "") or "CT"),
        "description": str(ds.get("SeriesDescription", "") or ""),
        "body_part": str(ds.get("BodyPartExamined", "") or ""),
        # What the scope check reads (ichviewer.core.scope): never logged, only matched.
        "protocol_name": str(ds.get("ProtocolName", "") or ""),
        "study_description": str(ds.get("StudyDescription", "") or ""),
        "contrast_agent": str(ds.get("ContrastBolusAgent", "") or ""),
        "study_date": str(ds.get("StudyDate", "") or ""),
        "series_number": int(ds.SeriesNumber) if ds.get("SeriesNumber") not in (None, "") else None,
        "patient_name": str(ds.get("PatientName", "") or ""),
        "patient_id": str(ds.get("PatientID", "") or ""),
        "window": (_first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))),
    }
    return HeaderRecord(slices, attrs)
