"""Read one file's header (pixels deferred) and turn it into slice references, or refuse it."""

from __future__ import annotations

import logging
import math
import os
from typing import Any, NamedTuple

import pydicom
import pydicom.config
from pydicom.dataset import Dataset
from pydicom.uid import UID, MediaStorageDirectoryStorage

from ichviewer.errors import DicomReadError
from ichviewer.io.header_values import (
    checked_float,
    checked_int,
    checked_real,
    element_value,
    finite_floats,
    first_value,
    optional_int,
    shown_code,
)
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


def _plausible_raw_dicom(head: bytes) -> bool:
    """Without the DICM preamble: does the file start like a dataset (a group 0002 or 0008
    element, little endian)? A block of zeros or text does not, and is refused at once
    instead of being parsed element by element."""
    if len(head) < 8:
        return False
    group = int.from_bytes(head[0:2], "little")
    return group in (0x0002, 0x0008) or int.from_bytes(head[0:2], "big") in (0x0002, 0x0008)


def _read(source: str) -> Dataset:
    name = display_name(source)
    try:
        fp = open_source(source)  # DicomReadError for bad zip members, named
    except OSError as exc:
        raise DicomReadError(name, f"cannot open ({exc.strerror or exc})") from exc
    try:
        if isinstance(fp, str):
            with open(fp, "rb") as fh:
                head = fh.read(132)
        else:
            head = fp.getvalue()[:132]
    except OSError as exc:
        raise DicomReadError(name, f"cannot open ({exc.strerror or exc})") from exc
    preamble = head[128:132] == b"DICM"
    if not preamble and not _plausible_raw_dicom(head):
        raise DicomReadError(name, "not a DICOM file (no DICM preamble, no DICOM header)")
    try:
        ds = pydicom.dcmread(fp, defer_size=1024, force=not preamble)
    except Exception as exc:  # pydicom raises many types on broken files; all mean "unreadable"
        # Its messages may quote the bytes it choked on (patient data): name the kind only.
        raise DicomReadError(
            name, f"unreadable or truncated DICOM header ({type(exc).__name__})"
        ) from None
    if not preamble and "SOPClassUID" not in ds and "Rows" not in ds:
        raise DicomReadError(name, "not a DICOM file (no DICM preamble and no image attributes)")
    return ds


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


class _Checked(NamedTuple):
    """The header values :func:`_check` has read and checked, for read_header to use."""

    rows: int
    columns: int
    frames: int
    bits_stored: int
    signed: bool
    slope: float
    intercept: float


def _check(ds: Dataset, name: str) -> _Checked:
    modality = str(element_value(ds, "Modality") or "")
    if modality and modality != "CT":
        raise DicomReadError(
            name, f"(0008,0060) Modality is {shown_code(modality)}; only CT images are read"
        )
    if not any(t in ds for t in PIXEL_TAGS):
        raise DicomReadError(name, "(7FE0,0010) Pixel Data is missing: not an image")
    rows = checked_int(ds, "Rows", "(0028,0010)", name, 0, 0, 1 << 16)
    cols = checked_int(ds, "Columns", "(0028,0011)", name, 0, 0, 1 << 16)
    for tag, kw, v in (("(0028,0010)", "Rows", rows), ("(0028,0011)", "Columns", cols)):
        if v == 0:
            raise DicomReadError(name, f"{tag} {kw} is missing")
    spp = checked_int(ds, "SamplesPerPixel", "(0028,0002)", name, 1, 1, 4)
    photometric = str(element_value(ds, "PhotometricInterpretation") or "MONOCHROME2")
    if spp != 1 or not photometric.startswith("MONOCHROME"):
        raise DicomReadError(
            name,
            f"(0028,0004) Photometric Interpretation is {shown_code(photometric)} "
            f"with {spp} samples per pixel: colour images are not CT slices",
        )
    frames = checked_int(ds, "NumberOfFrames", "(0028,0008)", name, 1, 1, 1 << 20)
    if rows > MAX_DIM or cols > MAX_DIM or rows * cols * frames > MAX_FILE_PIXELS:
        raise DicomReadError(
            name,
            f"image size {rows} x {cols} x {frames} frames is outside the accepted "
            f"range (at most {MAX_DIM} x {MAX_DIM}, {MAX_FILE_PIXELS} pixels per file)",
        )
    bits = checked_int(ds, "BitsAllocated", "(0028,0100)", name, 16, 1, 64)
    if bits not in (8, 16, 32):
        raise DicomReadError(name, f"(0028,0100) Bits Allocated is {bits}; expected 8, 16 or 32")
    stored = checked_int(ds, "BitsStored", "(0028,0101)", name, bits, 1, 64)
    if stored > bits:
        raise DicomReadError(
            name, f"(0028,0101) Bits Stored is {stored}, more than Bits Allocated ({bits})"
        )
    signed = checked_int(ds, "PixelRepresentation", "(0028,0103)", name, 0, 0, 1) == 1
    slope = checked_float(ds, "RescaleSlope", "(0028,1053)", name, 1.0, MAX_SLOPE, nonzero=True)
    intercept = checked_float(ds, "RescaleIntercept", "(0028,1052)", name, 0.0, MAX_INTERCEPT)
    return _Checked(rows, cols, frames, stored, signed, slope, intercept)


#: Rescale values no CT uses: slope 1 (0.5-2 at most) and intercept -1024 (-8192 at most).
MAX_SLOPE = 1000.0
MAX_INTERCEPT = 100_000.0


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
    if int(raw.length) > expected + 1:  # one pad byte is allowed
        raise DicomReadError(
            name,
            f"(7FE0,0010) Pixel Data holds {int(raw.length)} bytes, but Rows x Columns x "
            f"Bits Allocated x frames say {expected}: the header does not describe the pixels",
        )
    if bits == 8:
        return None  # rare in CT; let pydicom handle it
    endian = ">" if NATIVE_SYNTAXES[ts] else "<"
    dtype = f"{endian}{'i' if signed else 'u'}{bits // 8}"
    bits_stored = int(ds.get("BitsStored", bits) or bits)
    return PixelLayout(tell, dtype, bits_stored, signed, frame_bytes)


def _checked_frame(v: Any, default: float, kw: str, name: str, nonzero: bool = False) -> float:
    """A per-frame rescale value, held to the same rules as the file's own."""
    limit = MAX_SLOPE if kw == "RescaleSlope" else MAX_INTERCEPT
    return checked_real(v, f"per-frame {kw}", name, default, limit, nonzero)


def read_header(source: str) -> HeaderRecord | None:
    """Parse one source into slices; None for files to skip quietly (DICOMDIR)."""
    name = display_name(source)
    ds = _read(source)
    if ds.get("SOPClassUID") == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        return None
    hdr = _check(ds, name)
    ts = _check_decodable(ds, name)
    frames = hdr.frames
    layout = _layout(ds, source, ts, frames, name)

    sop = str(element_value(ds, "SOPInstanceUID") or "") or name
    iop = finite_floats(element_value(ds, "ImageOrientationPatient"), 6)
    ipp = finite_floats(element_value(ds, "ImagePositionPatient"), 3)
    for tag, kw, got, n in (
        ("(0020,0037)", "ImageOrientationPatient", iop, 6),
        ("(0020,0032)", "ImagePositionPatient", ipp, 3),
    ):
        if got is None and kw in ds:  # present but damaged: where this slice is is unknown
            raise DicomReadError(name, f"{tag} {kw} is not {n} finite numbers")
    if iop is not None and not (
        0.5 < math.hypot(*iop[:3]) < 1.5 and 0.5 < math.hypot(*iop[3:]) < 1.5
    ):
        raise DicomReadError(name, "(0020,0037) ImageOrientationPatient is not two unit vectors")
    spacing = finite_floats(element_value(ds, "PixelSpacing"), 2)
    if spacing is not None and min(spacing) <= 0:
        spacing = None
    thickness = finite_floats([element_value(ds, "SliceThickness")], 1)
    thickness = thickness[0] if thickness and thickness[0] > 0 else None
    slope, intercept = hdr.slope, hdr.intercept
    common = dict(
        rows=hdr.rows,
        columns=hdr.columns,
        transfer_syntax=ts,
        bits_stored=hdr.bits_stored,
        signed=hdr.signed,
        instance_number=optional_int(ds, "InstanceNumber"),
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
        step = (
            finite_floats([element_value(ds, "SpacingBetweenSlices")], 1) or (thickness or 1.0,)
        )[0]
        for i in range(frames):
            groups = _frame_groups(ds, i)
            f_iop = (
                finite_floats(
                    _group_value(groups, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
                )
                or iop
            )
            f_ipp = finite_floats(
                _group_value(groups, "PlanePositionSequence", "ImagePositionPatient"), 3
            )
            if f_ipp is None and ipp is not None and f_iop is not None:
                # Legacy multi-frame: frames stacked along the normal from the first position.
                from ichviewer.core.geometry import slice_normal

                n = slice_normal(f_iop)
                f_ipp = tuple(float(ipp[k] + i * step * n[k]) for k in range(3))
            f_spacing = (
                finite_floats(_group_value(groups, "PixelMeasuresSequence", "PixelSpacing"), 2)
                or spacing
            )
            f_thick = _group_value(groups, "PixelMeasuresSequence", "SliceThickness")
            f_slope = _group_value(groups, "PixelValueTransformationSequence", "RescaleSlope")
            f_icpt = _group_value(groups, "PixelValueTransformationSequence", "RescaleIntercept")
            slices.append(
                SliceRef(
                    source=source,
                    frame=i,
                    sop_instance_uid=f"{sop}#{i + 1}",
                    slope=_checked_frame(f_slope, slope, "RescaleSlope", name, nonzero=True),
                    intercept=_checked_frame(f_icpt, intercept, "RescaleIntercept", name),
                    ipp=f_ipp,
                    iop=f_iop,
                    pixel_spacing=f_spacing,
                    slice_thickness=float(f_thick) if f_thick is not None else thickness,
                    layout=layout,
                    **common,
                )
            )

    def text(kw: str) -> str:
        return str(element_value(ds, kw) or "")

    attrs = {
        "series_instance_uid": text("SeriesInstanceUID") or "(no series UID)",
        "study_instance_uid": text("StudyInstanceUID"),
        "modality": text("Modality") or "CT",
        "description": text("SeriesDescription"),
        "body_part": text("BodyPartExamined"),
        # What the scope check reads (ichviewer.core.scope): never logged, only matched.
        "protocol_name": text("ProtocolName"),
        "study_description": text("StudyDescription"),
        "contrast_agent": text("ContrastBolusAgent"),
        "study_date": text("StudyDate"),
        "series_number": optional_int(ds, "SeriesNumber"),
        "patient_name": text("PatientName"),
        "patient_id": text("PatientID"),
        "patient_birth_date": text("PatientBirthDate"),
        "patient_age": text("PatientAge"),
        "patient_sex": text("PatientSex"),
        "window": (
            first_value(element_value(ds, "WindowCenter")),
            first_value(element_value(ds, "WindowWidth")),
        ),
    }
    return HeaderRecord(slices, attrs)
