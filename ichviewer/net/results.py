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
from ichviewer.core.heatmap import cam_to_rgba
from ichviewer.core.labels import LABELS
from ichviewer.core.windowing import apply_window
from ichviewer.errors import IchViewerError
from ichviewer.io import SeriesInfo, SeriesReader, scan
from ichviewer.io.sources import open_source
from ichviewer.net.filing import safe_name
from ichviewer.paths import atomic_write_bytes

if TYPE_CHECKING:
    from ichviewer.ai.predictor import Predictor

logger = logging.getLogger("ichviewer.net")

MANUFACTURER = "ICH Viewer"
NOT_FOR_DIAGNOSTIC_USE = "NOT FOR DIAGNOSTIC USE"
SCHEME = "99ICHV"
SERIES_NUMBERS = {"sr": 9901, "kos": 9902, "sc": 9903}

_LABEL_NAMES = {
    "epidural": ("EDH", "Epidural hemorrhage"),
    "intraparenchymal": ("IPH", "Intraparenchymal hemorrhage"),
    "intraventricular": ("IVH", "Intraventricular hemorrhage"),
    "subarachnoid": ("SAH", "Subarachnoid hemorrhage"),
    "subdural": ("SDH", "Subdural hemorrhage"),
    "any": ("ICH", "Intracranial hemorrhage"),
}


def _code(value: str, meaning: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(value, SCHEME, meaning)


def label_code(label: str) -> hd.sr.CodedConcept:
    value, meaning = _LABEL_NAMES[label]
    return _code(value, meaning)


def probability_code(label: str) -> hd.sr.CodedConcept:
    value, meaning = _LABEL_NAMES[label]
    return _code(f"P-{value}", f"AI probability of {meaning[0].lower()}{meaning[1:]}")


REPORT_TITLE = hd.sr.CodedConcept("18748-4", "LN", "Diagnostic imaging report")
FLAGGED_SLICE = _code("FLAGSL", "AI-flagged slice")
STUDY_PROBABILITY = _code("P-STUDY", "AI study-level probability of intracranial hemorrhage")
STUDY_THRESHOLD = _code("T-STUDY", "AI study-level operating threshold")
NO_ICH = _code("NOICH", "No intracranial hemorrhage flagged by AI")
OUT_OF_SCOPE = _code("SCOPE", "Study outside the AI model's intended scope")
SCOPE_NOTE = _code("SCOPENOTE", "AI scope note")
NO_UNITS = hd.sr.CodedConcept("1", "UCUM", "no units")

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


@dataclass
class _Slice:
    index: int  # in the series
    entry: dict[str, Any]  # the report's slice entry
    header: Dataset  # the source file, without pixel data
    frame: int | None  # 1-based frame number of a multi-frame source


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


def _device_observer(model: Mapping[str, Any]) -> hd.sr.ObserverContext:
    sha = str(model.get("sha256", ""))
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[sha or "unknown model"]),
            name=str(model.get("name") or "ICH model")[:64],
            manufacturer_name=MANUFACTURER,
            model_name=str(model.get("name") or "ICH model")[:64],
        ),
    )


def _image_item(sl: _Slice) -> hd.sr.ImageContentItem:
    return hd.sr.ImageContentItem(
        name=codes.DCM.SourceImage,
        referenced_sop_class_uid=sl.header.SOPClassUID,
        referenced_sop_instance_uid=sl.header.SOPInstanceUID,
        referenced_frame_numbers=sl.frame,
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )


def build_sr_content(
    study: Mapping[str, Any], model: Mapping[str, Any], flagged: Sequence[_Slice], disclaimer: str
) -> hd.sr.ContainerContentItem:
    """The SR content tree (root container and its items)."""
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    root = hd.sr.ContainerContentItem(name=REPORT_TITLE)
    items: list[hd.sr.ContentItem] = list(_device_observer(model))
    sha = str(model.get("sha256", ""))
    algo = hd.sr.AlgorithmIdentification(
        name=str(model.get("name") or "ICH model")[:64],
        version=str(model.get("version") or "unknown")[:64],
        parameters=[f"sha256={sha}", f"software=ICH Viewer {__version__}"],
    )
    items += list(algo)
    in_scope = bool(study.get("in_scope", True))
    if not in_scope:
        finding = OUT_OF_SCOPE
    elif study.get("study_flagged"):
        finding = label_code("any")
    else:
        finding = NO_ICH
    items.append(
        hd.sr.CodeContentItem(name=codes.DCM.Finding, value=finding, relationship_type=contains)
    )
    if study.get("study_probability") is not None:
        items.append(
            hd.sr.NumContentItem(
                name=STUDY_PROBABILITY,
                value=float(study["study_probability"]),
                unit=NO_UNITS,
                relationship_type=contains,
            )
        )
    if study.get("study_threshold") is not None:
        items.append(
            hd.sr.NumContentItem(
                name=STUDY_THRESHOLD,
                value=float(study["study_threshold"]),
                unit=NO_UNITS,
                relationship_type=contains,
            )
        )
    if study.get("scope_reason"):
        items.append(
            hd.sr.TextContentItem(
                name=SCOPE_NOTE, value=str(study["scope_reason"])[:1024], relationship_type=contains
            )
        )
    for sl in flagged:
        box = hd.sr.ContainerContentItem(name=FLAGGED_SLICE, relationship_type=contains)
        children: list[hd.sr.ContentItem] = [_image_item(sl)]
        for lb in sl.entry.get("flagged_labels", []):
            children.append(
                hd.sr.CodeContentItem(
                    name=codes.DCM.Finding, value=label_code(lb), relationship_type=contains
                )
            )
        for lb in LABELS:
            p = sl.entry.get("probabilities", {}).get(lb)
            if p is None:
                continue
            children.append(
                hd.sr.NumContentItem(
                    name=probability_code(lb),
                    value=float(p),
                    unit=NO_UNITS,
                    relationship_type=contains,
                )
            )
        box.ContentSequence = hd.sr.ContentSequence(children)
        items.append(box)
    items.append(
        hd.sr.TextContentItem(
            name=codes.DCM.Comment,
            value=f"{disclaimer}. AI result of ICH Viewer {__version__}; "
            f"{NOT_FOR_DIAGNOSTIC_USE.lower()}.",
            relationship_type=contains,
        )
    )
    root.ContentSequence = hd.sr.ContentSequence(items)
    return root


def burn_in(
    hu: np.ndarray,
    cam: np.ndarray | None,
    lines: Sequence[str],
    *,
    min_size: int = 512,
) -> tuple[np.ndarray, int]:
    """RGB uint8 capture of a slice: brain window, heatmap blended on, text drawn.

    Returns (image, scale): small slices are enlarged by the integer ``scale`` (nearest
    neighbour) so the text stays legible; the caller divides the pixel spacing by it.
    """
    import cv2

    gray = (apply_window(np.asarray(hu, dtype=np.float32), "brain") * 255.0 + 0.5).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1).astype(np.float32)
    if cam is not None:
        rgba = cam_to_rgba(np.asarray(cam, dtype=np.float32)).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgb * (1.0 - alpha) + rgba[..., :3] * alpha
    img = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    scale = max(1, int(np.ceil(min_size / max(1, min(img.shape[:2])))))
    if scale > 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    h, w = img.shape[:2]
    font, fs = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 900.0)
    th = max(1, round(fs * 2))
    step = int(30 * fs) + 6
    text = [NOT_FOR_DIAGNOSTIC_USE, *lines]
    for k, line in enumerate(text):
        y = step * (k + 1)
        colour = (255, 40, 40) if k == 0 else (255, 255, 0)
        cv2.putText(img, line, (10, y), font, fs, (0, 0, 0), th + 2, cv2.LINE_AA)
        cv2.putText(img, line, (10, y), font, fs, colour, th, cv2.LINE_AA)
    y = h - 12
    cv2.putText(img, NOT_FOR_DIAGNOSTIC_USE, (10, y), font, fs, (0, 0, 0), th + 2, cv2.LINE_AA)
    cv2.putText(img, NOT_FOR_DIAGNOSTIC_USE, (10, y), font, fs, (255, 40, 40), th, cv2.LINE_AA)
    return img, scale


def heatmap_label(entry: Mapping[str, Any]) -> str:
    """The label whose map a capture shows: the most probable flagged subtype, else 'any'."""
    probs = entry.get("probabilities", {})
    subtypes = [lb for lb in entry.get("flagged_labels", []) if lb != "any"]
    if subtypes:
        return max(subtypes, key=lambda lb: probs.get(lb, 0.0))
    return "any"


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
