"""Score a received study: the triage engine over its CT files, written beside them as
``ai-report.json`` in the triage JSON format (DESIGN.md, ``ichviewer triage``).

torch is imported here only inside functions (the engine's own lazy imports), so importing
ichviewer.net stays light.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom

from ichviewer.core.jsonsafe import dumps
from ichviewer.errors import IchViewerError
from ichviewer.net.contexts import CT_CLASSES
from ichviewer.net.filing import REPORT_NAME
from ichviewer.paths import atomic_write_bytes

if TYPE_CHECKING:
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.predictor import Predictor

logger = logging.getLogger("ichviewer.net")


def load_predictor(
    model: str | Path | None = None, device: str = "auto", batch_size: int = 8
) -> tuple[Predictor, Path]:
    """The predictor of ``model``, else the site's model, else the bundled one (the engine
    decides, as for ``ichviewer triage``), shared with the window's when it is the same file."""
    from ichviewer.ai.engine import predictor_for

    return predictor_for(model, device=device, batch_size=batch_size)


def ct_files(study_dir: Path) -> list[Path]:
    """The CT image files of a study folder (our own SR/KOS/SC and others' are left out)."""
    out = []
    for p in sorted(Path(study_dir).rglob("*.dcm")):
        if p.name.startswith("."):
            continue
        try:
            ds = pydicom.dcmread(p, specific_tags=["SOPClassUID"], stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - the loader reports unreadable files; skip here
            out.append(p)
            continue
        if str(ds.get("SOPClassUID", "")) in CT_CLASSES:
            out.append(p)
    return out


def build_report(
    paths: Iterable[str | Path],
    predictor: Predictor,
    model_path: Path,
    cache: ResultCache | None = None,
) -> dict[str, Any]:
    """The triage report (same keys as ``ichviewer triage --out x.json``) of ``paths``."""
    from ichviewer.ai import triage
    from ichviewer.io import scan

    t0 = time.perf_counter()
    found = scan([str(p) for p in paths])
    studies, errors = triage.score_scan(found, predictor, cache, say=logger.info)
    return triage.triage_report(studies, errors, predictor, model_path, time.perf_counter() - t0)


def write_json_report(out: Path, report: dict[str, Any]) -> None:
    """The report as ``ichviewer triage --out x.json`` writes it (strict JSON, atomic)."""
    atomic_write_bytes(out, (dumps(report, indent=2) + "\n").encode("utf-8"))


def score_study(
    study_dir: str | Path,
    predictor: Predictor,
    model_path: Path,
    cache: ResultCache | None = None,
) -> Path:
    """Score the CT series of a received study folder and write its ``ai-report.json``
    (atomically; a re-score after late instances replaces it). Returns the report's path.
    Raises IchViewerError when nothing in the folder could be scored."""
    study_dir = Path(study_dir)
    files = ct_files(study_dir)
    if not files:
        raise IchViewerError(f"study folder {study_dir.name}: no CT image to score")
    report = build_report(files, predictor, model_path, cache)
    out = study_dir / REPORT_NAME
    write_json_report(out, report)
    if not report["studies"]:
        raise IchViewerError(
            f"study folder {study_dir.name}: no series could be scored "
            f"({len(report['errors'])} error(s), listed in {out.name})"
        )
    flagged = sum(bool(st["study_flagged"]) for st in report["studies"])
    logger.info(
        "scored study folder %s: %d series, %d flagged at study level, %d slices, %.1f s",
        study_dir.name,
        len(report["studies"]),
        flagged,
        report["n_slices"],
        report["seconds"],
    )
    return out
