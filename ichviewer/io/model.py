"""Plain data describing what the loader found: slices, series, per-file errors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PixelLayout:
    """Where and how an uncompressed frame lies in its file (fast path, no re-parsing)."""

    offset: int  # byte offset of the first frame's first pixel
    dtype: str  # numpy dtype string, e.g. "<i2"
    bits_stored: int
    signed: bool
    frame_bytes: int


@dataclass(frozen=True)
class SliceRef:
    """One displayable slice: a single-frame file, or one frame of a multi-frame file."""

    source: str
    frame: int
    sop_instance_uid: str
    rows: int
    columns: int
    slope: float = 1.0
    intercept: float = 0.0
    instance_number: int | None = None
    ipp: tuple[float, float, float] | None = None
    iop: tuple[float, ...] | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    transfer_syntax: str = ""
    bits_stored: int = 16
    signed: bool = True
    layout: PixelLayout | None = None
    position_mm: float = 0.0  # along the series' slice normal, set when the series is sorted

    @property
    def uid(self) -> str:
        """SOP Instance UID, with ``#<frame>`` (1-based) for frames of a multi-frame file."""
        return self.sop_instance_uid


@dataclass(frozen=True)
class FileError:
    """A file the loader refused, and why (one line a user can act on)."""

    file: str
    error: str


@dataclass
class SeriesInfo:
    """A sorted image series ready to decode."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    description: str
    body_part: str
    slices: list[SliceRef]
    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    orientation: tuple[float, ...] | None
    tilt_deg: float
    gaps_mm: list[float]
    sorted_by: str  # "position", "instance_number" or "file order"
    study_date: str = ""
    series_number: int | None = None
    patient_name: str = field(default="", repr=False)  # shown only on request, never logged
    patient_id: str = field(default="", repr=False)
    patient_birth_date: str = field(default="", repr=False)  # DA, YYYYMMDD
    patient_age: str = field(default="", repr=False)  # AS, e.g. "047Y"
    patient_sex: str = field(default="", repr=False)  # M, F, O
    protocol_name: str = ""
    study_description: str = ""
    contrast_agent: str = ""  # ContrastBolusAgent (0018,0010)

    @property
    def n_slices(self) -> int:
        return len(self.slices)

    @property
    def positions_mm(self) -> list[float]:
        """Each slice's place along the series in mm (the series-context stage looks a fixed
        distance away): the sorted positions when ImagePositionPatient gave them, else the
        slice order times SliceThickness (5 mm when that is missing too)."""
        if self.sorted_by == "position":
            return [float(s.position_mm) for s in self.slices]
        step = self.slice_thickness if self.slice_thickness and self.slice_thickness > 0 else 5.0
        return [float(step * i) for i in range(len(self.slices))]

    @property
    def uniform_spacing(self) -> bool:
        return not self.gaps_mm or (max(self.gaps_mm) - min(self.gaps_mm)) <= 0.05

    @property
    def label(self) -> str:
        """One line for a series picker: modality, description, slices, thickness."""
        thick = f", {self.slice_thickness:g} mm" if self.slice_thickness else ""
        return f"{self.modality} {self.description} ({self.n_slices} slices{thick})"


@dataclass
class ScanResult:
    """Every image series found under the given paths, and every refused file."""

    series: list[SeriesInfo]
    errors: list[FileError]

    def best_series(self) -> SeriesInfo | None:
        """A fair default: the axial series with the most slices, thicker slices first."""
        if not self.series:
            return None
        return max(
            self.series,
            key=lambda s: (s.tilt_deg < 45, s.n_slices >= 3, s.slice_thickness or 0, s.n_slices),
        )
