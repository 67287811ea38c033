"""Second-read marks (agree / disagree / unsure + a note per slice), kept per study, and the
export of AI results with those marks as JSON or CSV.

One JSON file per series under ``data_dir()/marks``, named by a hash of the Study and Series
Instance UIDs (UIDs need not be readable in a folder listing); the series' measurements
(:class:`ichviewer.core.measure.Measurements`) in a sibling ``<same name>.measurements.json``,
so a marks file of version 1 reads as before. Every change is written
whole with :func:`ichviewer.paths.atomic_write_bytes`: a crash or a kill leaves the previous
or the new file, never half of one. A file that cannot be read is moved aside (``.corrupt``)
and the caller gets a warning to show; marks are never silently dropped.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ichviewer.core.constants import DISCLAIMER
from ichviewer.core.labels import LABELS
from ichviewer.core.measure import Measurements
from ichviewer.core.triage import flagged_mask
from ichviewer.paths import atomic_write_bytes, data_dir, remove_stale_temp_files, set_aside

logger = logging.getLogger("ichviewer.io")

T = TypeVar("T")

MARKS_FORMAT = "ichviewer-marks"
MARKS_VERSION = 1
VERDICTS = ("agree", "disagree", "unsure")
RESULTS_FORMAT = "ichviewer-results"
RESULTS_VERSION = 1
CSV_COLUMNS = (
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "index",
    "position_mm",
    *LABELS,
    "flagged_labels",
    "verdict",
    "note",
    "model_name",
    "model_sha256",
    "disclaimer",
    "measurements",
)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass
class Mark:
    """The reader's verdict on one slice. ``ai_labels``/``model_sha256``: what the AI said
    when the mark was made (the model may change later)."""

    verdict: str | None = None
    note: str = ""
    updated: str = ""
    index: int | None = None
    position_mm: float | None = None
    ai_labels: list[str] = field(default_factory=list)
    model_sha256: str = ""

    @property
    def empty(self) -> bool:
        return self.verdict is None and not self.note


@dataclass
class StudyMarks:
    """All marks of one series, keyed by SOP Instance UID."""

    study_instance_uid: str
    series_instance_uid: str
    marks: dict[str, Mark] = field(default_factory=dict)

    def get(self, sop_uid: str) -> Mark | None:
        return self.marks.get(sop_uid)

    def update(
        self,
        sop_uid: str,
        *,
        verdict: Any = ...,
        note: Any = ...,
        **context: Any,
    ) -> Mark | None:
        """Change the verdict and/or note of a slice (``...`` keeps a field); ``context``
        (index, position_mm, ai_labels, model_sha256) is recorded with the change. A mark
        left with neither verdict nor note is removed; returns the mark or None."""
        if verdict is not ... and verdict is not None and verdict not in VERDICTS:
            raise ValueError(
                f"verdict must be one of {', '.join(VERDICTS)} or None, got {verdict!r}"
            )
        mark = self.marks.get(sop_uid) or Mark()
        if verdict is not ...:
            mark.verdict = verdict
        if note is not ...:
            mark.note = str(note).strip()
        for key, value in context.items():
            if not hasattr(mark, key):
                raise TypeError(f"unknown mark field {key!r}")
            setattr(mark, key, value)
        mark.updated = _now()
        if mark.empty:
            self.marks.pop(sop_uid, None)
            return None
        self.marks[sop_uid] = mark
        return mark

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MARKS_FORMAT,
            "version": MARKS_VERSION,
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "saved": _now(),
            "marks": {uid: asdict(m) for uid, m in self.marks.items()},
        }

    @classmethod
    def from_json(cls, obj: Any, where: str) -> StudyMarks:
        """Parse a marks file's content; ValueError naming ``where`` and the bad field."""
        if not isinstance(obj, dict) or obj.get("format") != MARKS_FORMAT:
            raise ValueError(
                f"{where}: not an ICH Viewer marks file (format is not {MARKS_FORMAT!r})"
            )
        if obj.get("version") != MARKS_VERSION:
            raise ValueError(f"{where}: unsupported marks version {obj.get('version')!r}")
        out = cls(str(obj.get("study_instance_uid", "")), str(obj.get("series_instance_uid", "")))
        marks = obj.get("marks")
        if not isinstance(marks, dict):
            raise ValueError(f"{where}: 'marks' must be an object")
        known = set(Mark.__dataclass_fields__)
        for uid, m in marks.items():
            if not isinstance(m, dict) or not set(m) <= known:
                raise ValueError(f"{where}: mark of slice {uid!r} has unknown fields")
            mark = Mark(**m)
            _check_mark(mark, where, str(uid))
            out.marks[str(uid)] = mark
        return out


#: Each field of a saved mark and the types it may hold (JSON numbers may be int or float).
_MARK_TYPES: dict[str, tuple[type, ...]] = {
    "verdict": (str, type(None)),
    "note": (str,),
    "updated": (str,),
    "index": (int, type(None)),
    "position_mm": (int, float, type(None)),
    "ai_labels": (list,),
    "model_sha256": (str,),
}


def _check_mark(mark: Mark, where: str, uid: str) -> None:
    """A mark read from disk has the types the window relies on; ValueError otherwise."""
    for name, types in _MARK_TYPES.items():
        v = getattr(mark, name)
        if isinstance(v, bool) or not isinstance(v, types):
            raise ValueError(f"{where}: field {name!r} of a mark has the wrong type")
    if mark.verdict is not None and mark.verdict not in VERDICTS:
        raise ValueError(f"{where}: a mark's verdict is not one of {', '.join(VERDICTS)}")
    if mark.index is not None and mark.index < 0:
        raise ValueError(f"{where}: a mark's slice index is negative")
    if not all(isinstance(x, str) for x in mark.ai_labels):
        raise ValueError(f"{where}: a mark's ai_labels are not label names")


def marks_key(study_uid: str, series_uid: str) -> str:
    """Hex SHA-256 of the two UIDs: the file name of a series' marks."""
    return hashlib.sha256(f"{study_uid}\x00{series_uid}".encode()).hexdigest()


def marks_dir(root: Path | None = None) -> Path:
    return root if root is not None else data_dir() / "marks"


def marks_path(study_uid: str, series_uid: str, root: Path | None = None) -> Path:
    return marks_dir(root) / f"{marks_key(study_uid, series_uid)[:40]}.json"


def load_marks(
    study_uid: str, series_uid: str, root: Path | None = None
) -> tuple[StudyMarks, str | None]:
    """The saved marks of a series (empty when none); (marks, warning or None). A file that
    cannot be parsed is renamed ``<name>.corrupt`` (kept for the user) and reported."""
    path = marks_path(study_uid, series_uid, root)
    remove_stale_temp_files(path.parent)  # writes cut short by a killed process

    def parse(text: str) -> StudyMarks:
        marks = StudyMarks.from_json(json.loads(text), path.name)
        if (marks.study_instance_uid, marks.series_instance_uid) != (study_uid, series_uid):
            raise ValueError(f"{path.name}: belongs to another series")
        return marks

    return _load_or_set_aside(path, StudyMarks(study_uid, series_uid), parse, "marks", "no marks")


def _load_or_set_aside(
    path: Path, empty: T, parse: Callable[[str], T], what: str, none: str
) -> tuple[T, str | None]:
    """(``parse`` of the file's text, None); (``empty``, None) when there is no file; else
    (``empty``, why) with the file renamed ``<name>.corrupt`` when it cannot be parsed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return empty, None
    except OSError as exc:
        return empty, f"{what.capitalize()} file {path} could not be read ({exc.strerror or exc})"
    try:
        return parse(data.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        if isinstance(exc, RecursionError):  # deeply nested JSON: not a file we wrote
            exc = ValueError(f"{path.name}: nested too deeply to be a {what} file")
        aside = set_aside(path)
        kept = f"; kept as {aside.name}" if aside else ""
        msg = f"Saved {what} could not be read ({exc}){kept}; starting with {none}"
        logger.warning("%s", msg)
        return empty, msg


def measurements_path(study_uid: str, series_uid: str, root: Path | None = None) -> Path:
    return marks_path(study_uid, series_uid, root).with_suffix(".measurements.json")


def load_measurements(
    study_uid: str, series_uid: str, root: Path | None = None
) -> tuple[Measurements, str | None]:
    """The saved measurements of a series, like :func:`load_marks` (a bad file is set aside)."""
    path = measurements_path(study_uid, series_uid, root)

    def parse(text: str) -> Measurements:
        items = Measurements.from_json(text)
        if (items.study_instance_uid, items.series_instance_uid) != (study_uid, series_uid):
            raise ValueError("measurements: belong to another series")
        return items

    empty = Measurements(series_instance_uid=series_uid, study_instance_uid=study_uid)
    return _load_or_set_aside(path, empty, parse, "measurements", "none")


def save_measurements(items: Measurements, root: Path | None = None) -> Path:
    """Write a series' measurements atomically (the UIDs are the container's); OSError."""
    path = measurements_path(items.study_instance_uid, items.series_instance_uid, root)
    atomic_write_bytes(path, (json.dumps(items.to_json(), indent=1) + "\n").encode("utf-8"))
    return path


def save_marks(marks: StudyMarks, root: Path | None = None) -> Path:
    """Write all marks of a series atomically; returns the file. Raises OSError."""
    path = marks_path(marks.study_instance_uid, marks.series_instance_uid, root)
    atomic_write_bytes(path, (json.dumps(marks.to_json(), indent=1) + "\n").encode("utf-8"))
    return path


# -- export ------------------------------------------------------------------------------


def _r(p: float) -> float:
    return round(float(p), 6)


def results_report(
    *,
    study_uid: str,
    series_uid: str,
    description: str,
    slices: Sequence[tuple[str, float]],
    probabilities: np.ndarray,
    thresholds: Sequence[float],
    model: dict[str, Any],
    marks: StudyMarks | None = None,
    disclaimer: str = DISCLAIMER,
    measurements: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The export of one series: AI results per slice (null where not scored) and marks.

    ``slices``: (SOP Instance UID, position mm) per index; ``probabilities``: (N, 6) with NaN
    for unscored slices. Keys follow the ``ichviewer triage`` report (DESIGN.md).
    ``measurements``: the reader's measurements as dicts with at least ``index`` and
    ``summary`` (a line such as "ruler 12.3 mm"), listed under the study."""
    p = np.asarray(probabilities, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if p.shape != (len(slices), len(LABELS)):
        raise ValueError(f"probabilities are {p.shape}, expected ({len(slices)}, {len(LABELS)})")
    fired = flagged_mask(p, t)
    rows, flagged, scored = [], [], []
    for i, (uid, pos) in enumerate(slices):
        ok = not np.isnan(p[i]).any()
        labels = [lb for lb, f in zip(LABELS, fired[i], strict=True) if ok and f]
        if labels:
            flagged.append(uid)
        if ok:
            scored.append(p[i])
        mark = marks.get(uid) if marks is not None else None
        rows.append(
            {
                "index": i,
                "sop_instance_uid": uid,
                "position_mm": round(float(pos), 4) if math.isfinite(pos) else None,
                "probabilities": {lb: _r(v) for lb, v in zip(LABELS, p[i], strict=True)}
                if ok
                else None,
                "flagged_labels": labels,
                "mark": None
                if mark is None
                else {"verdict": mark.verdict, "note": mark.note, "updated": mark.updated},
            }
        )
    peak = np.max(scored, axis=0) if scored else None
    study = {
        "study_instance_uid": study_uid,
        "series_instance_uid": series_uid,
        "description": description,
        "n_slices": len(slices),
        "n_scored": len(scored),
        "max": None if peak is None else {lb: _r(v) for lb, v in zip(LABELS, peak, strict=True)},
        "flagged": flagged,
        "slices": rows,
        "measurements": [dict(m) for m in measurements],
    }
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "disclaimer": disclaimer,
        "exported": _now(),
        "model": dict(model),
        "thresholds": {lb: _r(v) for lb, v in zip(LABELS, t, strict=True)},
        "studies": [study],
    }


def results_csv(report: dict[str, Any]) -> str:
    """One row per slice of a :func:`results_report` (empty cells where not scored)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    model = report.get("model", {})
    for st in report["studies"]:
        measured: dict[int, list[str]] = {}
        for m in st.get("measurements", []):
            measured.setdefault(m.get("index"), []).append(str(m.get("summary", m.get("kind"))))
        for sl in st["slices"]:
            probs = sl["probabilities"] or {}
            mark = sl["mark"] or {}
            w.writerow(
                [
                    st["study_instance_uid"],
                    st["series_instance_uid"],
                    sl["sop_instance_uid"],
                    sl["index"],
                    "" if sl["position_mm"] is None else sl["position_mm"],
                    *(probs.get(lb, "") for lb in LABELS),
                    ";".join(sl["flagged_labels"]),
                    mark.get("verdict") or "",
                    mark.get("note", ""),
                    model.get("name", ""),
                    model.get("sha256", ""),
                    report.get("disclaimer", DISCLAIMER),
                    "; ".join(measured.get(sl["index"], [])),
                ]
            )
    return buf.getvalue()


def write_results(path: Path, report: dict[str, Any]) -> Path:
    """JSON or CSV by the suffix of ``path`` (anything but .csv is JSON); atomic."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        data = results_csv(report).encode("utf-8")
    else:
        data = (json.dumps(report, indent=2) + "\n").encode("utf-8")
    atomic_write_bytes(path, data)
    return path
