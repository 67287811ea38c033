"""The AI result as DICOM, in the scored study, for any PACS viewer (highdicom):

* a Comprehensive SR: the model (name, version, SHA-256 as an algorithm identification and a
  device observer), the study decision (probability, threshold, flagged or not, scope) and,
  for each flagged slice, its flagged labels and the six probabilities, referencing the image;
* a Key Object Selection ("Of Interest") of the flagged slices, so a viewer jumps to them;
* a secondary capture of each flagged slice in the brain window with the class activation
  map burned in and "NOT FOR DIAGNOSTIC USE" written on the image.

Each object gets new Series and SOP Instance UIDs, Manufacturer "ICH Viewer", our software
version, and the patient and study modules copied from the source images. Concepts the DICOM
and LOINC vocabularies have (finding, comment, algorithm name/version/parameters, device
observer, source image) use them; the hemorrhage labels and their probabilities use a local
coding scheme, ``99ICHV`` (PS3.16 8.2: local schemes start with 99), rather than borrowed
codes whose meaning would not match a model's output.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ichviewer import __version__
from ichviewer.core.labels import LABELS
from ichviewer.errors import IchViewerError
from ichviewer.io import SeriesInfo, SeriesReader, scan
from ichviewer.io.sources import open_source
from ichviewer.net.capture import burn_in, heatmap_label
from ichviewer.net.filing import safe_name
from ichviewer.net.sr_content import (
    FLAGGED_SLICE,
    MANUFACTURER,
    NO_ICH,
    NO_UNITS,
    NOT_FOR_DIAGNOSTIC_USE,
    OUT_OF_SCOPE,
    REPORT_TITLE,
    SCHEME,
    SCOPE_NOTE,
    STUDY_PROBABILITY,
    STUDY_THRESHOLD,
    _device_observer,
    _Slice,
    build_sr_content,
    label_code,
    probability_code,
)
from ichviewer.paths import atomic_write_bytes

if TYPE_CHECKING:
    from ichviewer.ai.predictor import Predictor

__all__ = [
    "FLAGGED_SLICE",
    "MANUFACTURER",
    "NOT_FOR_DIAGNOSTIC_USE",
    "NO_ICH",
    "NO_UNITS",
    "OUT_OF_SCOPE",
    "PATIENT_STUDY_KEYWORDS",
    "REPORT_TITLE",
    "SCHEME",
    "SCOPE_NOTE",
    "SERIES_NUMBERS",
    "STUDY_PROBABILITY",
    "STUDY_THRESHOLD",
    "TYPE2_PATIENT_STUDY",
    "SeriesResults",
    "build_sr_content",
    "burn_in",
    "heatmap_label",
    "label_code",
    "probability_code",
    "write_dicom_results",
]

logger = logging.getLogger("ichviewer.net")

SERIES_NUMBERS = {"sr": 9901, "kos": 9902, "sc": 9903}

#: Patient and General Study module attributes copied from the source (when present).
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDsSequence",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyDescription",
)


@dataclass
class SeriesResults:
    """The files written for one scored series."""

    study_instance_uid: str
    series_instance_uid: str
    sr: Path | None = None
    kos: Path | None = None
    sc: list[Path] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.sr, self.kos) if p is not None] + list(self.sc)


#: Type 2 Patient / General Study attributes: present, possibly empty, in every object we
#: write (and highdicom reads them from the evidence); a source without them gets them empty.
TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)


def _read_header(source: str) -> Dataset:
    """The source's header, in memory (the file is never written), with any missing Type 2
    patient/study attribute present and empty."""
    try:
        ds = pydicom.dcmread(open_source(source), stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise IchViewerError(f"cannot read source image {source}: {exc}") from exc
    for kw in TYPE2_PATIENT_STUDY:
        if kw not in ds:
            setattr(ds, kw, "")
    return ds


def _copy_patient_study(src: Dataset, dst: Dataset) -> None:
    for kw in PATIENT_STUDY_KEYWORDS:
        if kw in src:
            dst[kw] = src[kw]
    if "SpecificCharacterSet" in src:
        dst.SpecificCharacterSet = src.SpecificCharacterSet


def _finish(ds: Dataset, src: Dataset, description: str) -> Dataset:
    _copy_patient_study(src, ds)
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER
    ds.SoftwareVersions = __version__
    ds.SeriesDescription = description
    return ds


def _write(ds: Dataset, path: Path) -> Path:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _find_series(found_series: Iterable[SeriesInfo], uid: str) -> SeriesInfo:
    for s in found_series:
        if s.series_instance_uid == uid:
            return s
    raise IchViewerError(
        f"series {uid} of the report is not among the study files given: pass the folder "
        "that was scored"
    )


def write_dicom_results(
    report: Mapping[str, Any],
    study_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    predictor: Predictor | None = None,
    heatmaps: Mapping[str, np.ndarray] | None = None,
) -> list[SeriesResults]:
    """Write SR, KOS and secondary captures for each scored series of a triage ``report``.

    Parameters
    ----------
    report : a triage JSON report (``ichviewer triage`` or the receiver's ai-report.json)
    study_paths : the DICOM folders/files that were scored (read, never written)
    out_dir : files go to out_dir/<study>/<series>/<sop>.dcm (new series, same study)
    predictor : computes each flagged slice's class activation map for its capture
    heatmaps : SOP Instance UID -> (H, W) map, used instead of the predictor (the window
        has them already); a flagged slice with neither gets a capture without a heatmap

    Nothing is written for a series with no scored slice; KOS and captures only where
    slices were flagged. Raises IchViewerError naming what is missing.
    """
    out_dir = Path(out_dir)
    found = scan([str(p) for p in study_paths])
    model = report.get("model", {}) or {}
    disclaimer = str(report.get("disclaimer") or "Not for diagnostic use")
    results = []
    for study in report.get("studies", []):
        series = _find_series(found.series, study["series_instance_uid"])
        results.append(
            _write_series(study, series, model, disclaimer, out_dir, predictor, heatmaps or {})
        )
    return results


def _write_series(
    study: Mapping[str, Any],
    series: SeriesInfo,
    model: Mapping[str, Any],
    disclaimer: str,
    out_dir: Path,
    predictor: Predictor | None,
    heatmaps: Mapping[str, np.ndarray],
) -> SeriesResults:
    index = {ref.sop_instance_uid: i for i, ref in enumerate(series.slices)}
    scored: list[_Slice] = []
    for entry in study.get("slices", []):
        i = index.get(entry["sop_instance_uid"])
        if i is None:
            raise IchViewerError(
                f"slice {entry['sop_instance_uid']} of the report is not in series "
                f"{series.series_instance_uid} as found on disk"
            )
        ref = series.slices[i]
        header = _read_header(ref.source)
        frames = int(header.get("NumberOfFrames", 1) or 1)
        scored.append(_Slice(i, entry, header, ref.frame + 1 if frames > 1 else None))
    res = SeriesResults(series.study_instance_uid, series.series_instance_uid)
    if not scored:
        return res
    flagged_uids = set(study.get("flagged", []))
    flagged = [sl for sl in scored if sl.entry["sop_instance_uid"] in flagged_uids]
    evidence = [sl.header for sl in scored]
    src = scored[0].header
    study_dir = out_dir / safe_name(series.study_instance_uid)
    name = str(model.get("name") or "ICH model")

    # Structured report.
    sr_series, sr_sop = generate_uid(), generate_uid()
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=build_sr_content(study, model, flagged, disclaimer),
        series_instance_uid=sr_series,
        series_number=SERIES_NUMBERS["sr"],
        sop_instance_uid=sr_sop,
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
    )
    _finish(sr, src, "AI hemorrhage report (not for diagnostic use)")
    scheme = Dataset()
    scheme.CodingSchemeDesignator = SCHEME
    scheme.CodingSchemeName = "ICH Viewer local codes"
    scheme.CodingSchemeResponsibleOrganization = MANUFACTURER
    sr.CodingSchemeIdentificationSequence = [scheme]
    res.sr = _write(sr, study_dir / safe_name(sr_series) / f"{safe_name(sr_sop)}.dcm")

    if not flagged:
        return res

    # Key objects: the flagged slices.
    kos_series, kos_sop = generate_uid(), generate_uid()
    kos = hd.ko.KeyObjectSelectionDocument(
        evidence=[sl.header for sl in flagged],
        content=hd.ko.KeyObjectSelection(
            document_title=codes.DCM.OfInterest,
            referenced_objects=[sl.header for sl in flagged],
            observer_device_context=_device_observer(model),
            description=f"AI-flagged slices (hemorrhage suspected), {name}; "
            f"{NOT_FOR_DIAGNOSTIC_USE.lower()}"[:1024],
        ),
        series_instance_uid=kos_series,
        series_number=SERIES_NUMBERS["kos"],
        sop_instance_uid=kos_sop,
        instance_number=1,
        manufacturer=MANUFACTURER,
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    _finish(kos, src, "AI-flagged slices (not for diagnostic use)")
    res.kos = _write(kos, study_dir / safe_name(kos_series) / f"{safe_name(kos_sop)}.dcm")

    # Secondary captures with the heatmap burned in.
    reader = SeriesReader(series)
    sc_series = generate_uid()
    for k, sl in enumerate(flagged, 1):
        uid = sl.entry["sop_instance_uid"]
        hu = reader.slice(sl.index)
        label = heatmap_label(sl.entry)
        cam = heatmaps.get(uid)
        if cam is None and predictor is not None:
            cams = predictor.predict_one(hu, want_cam=True).cams
            cam = None if cams is None else cams[LABELS.index(label)]
        probs = sl.entry.get("probabilities", {})
        flagged_text = ", ".join(
            f"{lb} {probs.get(lb, float('nan')):.2f}" for lb in sl.entry.get("flagged_labels", [])
        )
        lines = [
            f"AI flagged: {flagged_text}"[:80],
            f"heatmap: {label}" if cam is not None else "heatmap: not available",
            f"{name[:40]} / ICH Viewer {__version__}",
        ]
        img, scale = burn_in(hu, cam, lines)
        spacing = None
        if series.pixel_spacing:
            spacing = (series.pixel_spacing[0] / scale, series.pixel_spacing[1] / scale)
        sop = generate_uid()
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=sl.header,
            pixel_array=img,
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            series_instance_uid=sc_series,
            series_number=SERIES_NUMBERS["sc"],
            sop_instance_uid=sop,
            instance_number=k,
            manufacturer=MANUFACTURER,
            pixel_spacing=spacing,
            patient_orientation=("L", "P"),
            transfer_syntax_uid=ExplicitVRLittleEndian,
        )
        _finish(sc, sl.header, "AI heatmaps of flagged slices (not for diagnostic use)")
        sc.BurnedInAnnotation = "YES"
        # General Series Laterality is Type 2C (paired body parts): validators ask for it
        # unless the body part says it is unpaired, so the source's body part goes along.
        if "BodyPartExamined" in sl.header:
            sc.BodyPartExamined = sl.header.BodyPartExamined
        sc.ImageComments = f"{NOT_FOR_DIAGNOSTIC_USE}: AI heatmap ({label}) on the brain window"
        sc.DerivationDescription = (
            f"Brain window (40/80) of the source slice with the AI class activation map of "
            f"'{label}' ({name}) blended on; text burned in"
        )[:1024]
        source_ref = Dataset()
        source_ref.ReferencedSOPClassUID = sl.header.SOPClassUID
        source_ref.ReferencedSOPInstanceUID = sl.header.SOPInstanceUID
        if sl.frame is not None:
            source_ref.ReferencedFrameNumber = sl.frame
        sc.SourceImageSequence = [source_ref]
        res.sc.append(_write(sc, study_dir / safe_name(sc_series) / f"{safe_name(sop)}.dcm"))
    logger.info(
        "DICOM results for series %s: SR, KOS of %d slice(s), %d capture(s) in %s",
        series.series_instance_uid,
        len(flagged),
        len(res.sc),
        study_dir,
    )
    return res
