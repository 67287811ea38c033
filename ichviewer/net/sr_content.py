"""The content of the AI result's Comprehensive SR (highdicom): the model as an algorithm
identification and a device observer, the study decision and, for each flagged slice, its
flagged labels and probabilities, referencing the image. Hemorrhage labels use the local
coding scheme ``99ICHV`` (see :mod:`ichviewer.net.results`, which re-exports everything here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ichviewer import __version__
from ichviewer.core.labels import LABELS

MANUFACTURER = "ICH Viewer"
NOT_FOR_DIAGNOSTIC_USE = "NOT FOR DIAGNOSTIC USE"
SCHEME = "99ICHV"

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


@dataclass
class _Slice:
    index: int  # in the series
    entry: dict[str, Any]  # the report's slice entry
    header: Dataset  # the source file, without pixel data
    frame: int | None  # 1-based frame number of a multi-frame source


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
