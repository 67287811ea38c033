"""Shared bits of the network tests: a study to push, pushing it, reading what was filed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydicom

from ichviewer.paths import demo_study_path

PATIENT_SECRETS = ("DOE^JANE", "SECRET-ID-123", "DOE", "SECRET")


def demo_files() -> list[Path]:
    return sorted(demo_study_path().glob("*.dcm"))


def storescu(
    port: int, path: Path, *, aet: str = "STORESCU", aec: str = "ANY-SCP"
) -> subprocess.CompletedProcess:
    """Push ``path`` (file or folder) with pynetdicom's own storescu app, as a site would."""
    cmd = [
        sys.executable,
        "-m",
        "pynetdicom",
        "storescu",
        "127.0.0.1",
        str(port),
        str(path),
        "-r",
        "-cx",  # propose each file's own transfer syntax (the demo is RLE lossless)
        "-aet",
        aet,
        "-aec",
        aec,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def filed(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.dcm") if not p.name.startswith("."))


def stray_temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".*.tmp"))


def sop_uids(paths) -> set[str]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}


def fake_report(paths, flag=(10, 12), labels=("subdural", "any")) -> dict:
    """A triage report of the study under ``paths`` that flags slices ``flag`` (by index),
    shaped exactly like ``ichviewer triage --out x.json`` (no model run)."""
    from ichviewer.core.labels import LABELS
    from ichviewer.io import scan

    s = scan([str(p) for p in paths]).best_series()
    slices, flagged = [], []
    for i, ref in enumerate(s.slices):
        fl = list(labels) if i in flag else []
        if fl:
            flagged.append(ref.sop_instance_uid)
        slices.append(
            {
                "sop_instance_uid": ref.sop_instance_uid,
                "position_mm": ref.position_mm,
                "instance_number": ref.instance_number,
                "probabilities": {lb: (0.91 if lb in fl else 0.04) for lb in LABELS},
                "flagged_labels": fl,
            }
        )
    return {
        "format": "ichviewer-triage",
        "version": 1,
        "disclaimer": "Synthetic-phantom model, not for diagnostic use",
        "model": {"sha256": "ab" * 32, "name": "test-model", "version": "3"},
        "studies": [
            {
                "study_instance_uid": s.study_instance_uid,
                "series_instance_uid": s.series_instance_uid,
                "study_probability": 0.91,
                "study_flagged": True,
                "study_threshold": 0.26,
                "in_scope": True,
                "scope_reason": "",
                "flagged": flagged,
                "slices": slices,
            }
        ],
    }


def sr_image_references(ds) -> list[str]:
    """SOP Instance UIDs of every IMAGE item in an SR or KOS content tree."""
    out = []

    def walk(items):
        for item in items:
            if item.get("ValueType") == "IMAGE":
                out.extend(r.ReferencedSOPInstanceUID for r in item.ReferencedSOPSequence)
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(ds.ContentSequence)
    return out


def sr_values(ds) -> list[tuple[str, str]]:
    """(concept name, value as text) of every TEXT, CODE and NUM item, depth first."""
    out = []

    def walk(items):
        for item in items:
            name = item.ConceptNameCodeSequence[0].CodeMeaning
            vt = item.get("ValueType")
            if vt == "TEXT":
                out.append((name, str(item.TextValue)))
            elif vt == "CODE":
                out.append((name, str(item.ConceptCodeSequence[0].CodeMeaning)))
            elif vt == "NUM":
                out.append((name, str(item.MeasuredValueSequence[0].NumericValue)))
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(ds.ContentSequence)
    return out
