"""Triage reports: what ``ichviewer triage`` and ``ichviewer --self-test`` say, as data.

The model (``--model``, else the site's, else the bundled one) scores every series through
the viewer's engine (:func:`ichviewer.ai.engine.score_series`); this module turns the
scores into the report's plain dicts (DESIGN.md, command-line contracts). It parses no
arguments, prints nothing and writes no file: that is the command line's job
(:mod:`ichviewer.triage_cli`), which passes ``say`` for its progress messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichviewer.core.constants import DISCLAIMER
from ichviewer.core.labels import LABELS
from ichviewer.errors import SeriesError
from ichviewer.io import ScanResult, SeriesInfo

if TYPE_CHECKING:  # torch loads only when scoring starts, so building the parser stays fast
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.engine import SeriesScore
    from ichviewer.ai.predictor import Predictor

logger = logging.getLogger("ichviewer.ai")

REPORT_FORMAT = "ichviewer-triage"
REPORT_VERSION = 1
SYNTHETIC_DISCLAIMER = f"Synthetic-phantom model, {DISCLAIMER.lower()}"
#: Where progress messages go: the command line prints them to stderr, others log them.
Say = Callable[[str], None]


def disclaimer_for(predictor: Predictor) -> str:
    return SYNTHETIC_DISCLAIMER if predictor.checkpoint.synthetic else DISCLAIMER


def model_info(predictor: Predictor, path: Path) -> dict[str, Any]:
    """The ``model`` block of a report: identity, card summary, thresholds, how it ran."""
    card = predictor.checkpoint.card
    return {
        "sha256": predictor.sha256,
        "name": predictor.name,
        "path": str(path),
        "arch": predictor.checkpoint.arch,
        "version": card.get("version"),
        "date": card.get("date"),
        "training_data": card.get("training_data"),
        "intended_use": card.get("intended_use"),
        "metrics": card.get("metrics", {}),
        "labels": list(LABELS),
        "thresholds": dict(predictor.checkpoint.thresholds),
        "threshold_source": predictor.checkpoint.threshold_source,
        **predictor.describe(),
    }


def _round(p: float) -> float:
    return round(float(p), 6)


def series_report(score: SeriesScore, predictor: Predictor) -> dict[str, Any]:
    """One ``studies[]`` entry: a scored series with per-slice probabilities and flags.

    ``probabilities`` are what the viewer shows: with the checkpoint's series-context stage
    applied over the scored slices; ``slice_probabilities`` (only when the stage exists)
    are the network's on the slice alone. ``study_probability`` / ``study_flagged`` are the
    study-level call (:func:`ichviewer.core.triage.study_decision`); a series out of the
    model's scope is scored but flags nothing, and ``scope_reason`` says why.
    """
    series, shown, raw, decision = score.series, score.shown, score.raw, score.decision
    slices, flagged, probs = [], [], []
    for i, ref in enumerate(series.slices):
        if i not in score.results:
            continue
        labels = score.flagged_labels(i)
        if labels:
            flagged.append(ref.sop_instance_uid)
        probs.append(shown[i])
        entry = {
            "sop_instance_uid": ref.sop_instance_uid,
            "position_mm": round(float(ref.position_mm), 4),
            "instance_number": ref.instance_number,
            "probabilities": {lb: _round(p) for lb, p in zip(LABELS, shown[i], strict=True)},
            "flagged_labels": labels,
        }
        if predictor.context is not None:
            entry["slice_probabilities"] = {
                lb: _round(p) for lb, p in zip(LABELS, raw[i], strict=True)
            }
        slices.append(entry)
    peak = np.max(probs, axis=0) if probs else np.zeros(len(LABELS))
    return {
        "study_instance_uid": series.study_instance_uid,
        "series_instance_uid": series.series_instance_uid,
        "description": series.description,
        "modality": series.modality,
        "n_slices": series.n_slices,
        "n_scored": len(slices),
        "max": {lb: _round(p) for lb, p in zip(LABELS, peak, strict=True)},
        "study_probability": None if decision.probability is None else _round(decision.probability),
        "study_flagged": decision.flagged,
        "study_threshold": _round(decision.threshold),
        "in_scope": score.scope.in_scope,
        "scope_reason": score.scope.reason,
        "flagged": flagged,
        "slices": slices,
    }


def _progress(say: Say, k: int, n_series: int, series: SeriesInfo) -> Callable[[int, int], None]:
    marks = {max(1, round(series.n_slices * f)) for f in (0.25, 0.5, 0.75, 1.0)}

    def on_progress(done: int, total: int) -> None:
        if done in marks:
            say(f"  series {k}/{n_series}: {done}/{total} slices scored")

    return on_progress


def score_scan(
    found: ScanResult,
    predictor: Predictor,
    cache: ResultCache | None,
    say: Say | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Score every series found (ichviewer.ai.engine); returns (studies, errors).

    ``say`` gets one line per series and progress within it (default: the log, at INFO).
    """
    from ichviewer.ai.engine import score_series

    say = say or logger.info
    errors = [{"file": e.file, "error": e.error} for e in found.errors]
    studies = []
    for k, series in enumerate(found.series, 1):
        say(f"scoring series {k}/{len(found.series)}: {series.label}")
        try:
            score = score_series(
                predictor,
                series,
                cache=cache,
                on_progress=_progress(say, k, len(found.series), series),
            )
        except SeriesError as exc:  # ModelOutputError (a broken model) goes up: fatal
            errors.append({"file": series.description, "error": str(exc)})
            continue
        if not score.scope.in_scope:
            say(f"  series {k}: out of scope, nothing flagged: {score.scope.reason}")
        elif score.scope.reason:
            say(f"  series {k}: warning: {score.scope.reason}")
        errors += [{"file": e.file, "error": e.error} for e in score.read_errors]
        errors += [
            {"file": series.slices[i].source, "error": why} for i, why in score.failed.items()
        ]
        if score.results:
            studies.append(series_report(score, predictor))
    return studies, errors


def load_predictor(model: str | None, device: str, batch_size: int) -> tuple[Predictor, Path]:
    """The predictor of ``model``, else the site's model, else the bundled one, and its path
    (the engine decides: :func:`ichviewer.ai.engine.predictor_for`)."""
    from ichviewer.ai.engine import predictor_for

    return predictor_for(model, device=device, batch_size=batch_size)


def triage_report(
    studies: list[dict[str, Any]],
    errors: list[dict[str, str]],
    predictor: Predictor,
    model_path: Path,
    seconds: float,
) -> dict[str, Any]:
    """The whole report of :func:`score_scan`'s studies and errors."""
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "disclaimer": disclaimer_for(predictor),
        "model": model_info(predictor, model_path),
        "studies": studies,
        "errors": errors,
        "n_series": len(studies),
        "n_slices": sum(st["n_scored"] for st in studies),
        "seconds": round(seconds, 3),
    }


def self_test_summary(score: SeriesScore, predictor: Predictor, seconds: float) -> dict[str, Any]:
    """What ``ichviewer --self-test`` prints about the demo study it scored."""
    decision = score.decision
    return {
        "ok": True,
        "n_slices": len(score.results),
        "study_probability": decision.probability,
        "study_flagged": decision.flagged,
        "max": {
            lb: _round(p) for lb, p in zip(LABELS, np.nanmax(score.shown, axis=0), strict=True)
        },
        "flagged": int(score.flagged.any(axis=1).sum()),
        "model_sha256": predictor.sha256,
        "model_name": predictor.name,
        "device": str(predictor.device),
        "precision": predictor.precision,
        "seconds": round(seconds, 3),
        "disclaimer": disclaimer_for(predictor),
    }
