"""Score a series, the one way: the network slice by slice (through the result cache), the
checkpoint's series context over it, the flags at its thresholds, the scope check and the
study-level call. Triage, the worklist and the self-test call :func:`score_series`; the
window, which scores incrementally, calls :func:`assess` on what it has so far.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ichviewer.ai.results import SliceResult, stack_probabilities
from ichviewer.core.scope import Scope
from ichviewer.core.triage import StudyDecision, flagged_mask, study_decision
from ichviewer.io import SeriesInfo, SeriesReader
from ichviewer.io.model import FileError
from ichviewer.io.scope import series_scope

if TYPE_CHECKING:
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.predictor import Predictor


@dataclass
class SeriesScore:
    """What the engine says about one series."""

    series: SeriesInfo
    results: dict[int, SliceResult]
    raw: np.ndarray  # (N, 6) the network's, slice by slice; NaN rows: not scored
    shown: np.ndarray  # (N, 6) what every screen and report shows (series context applied)
    flagged: np.ndarray  # (N, 6) bool; all False out of scope
    decision: StudyDecision
    scope: Scope
    failed: dict[int, str] = field(default_factory=dict)  # slice index -> why not scored
    read_errors: list[FileError] = field(default_factory=list)

    def flagged_labels(self, i: int) -> list[str]:
        from ichviewer.core.labels import LABELS

        return [lb for lb, f in zip(LABELS, self.flagged[i], strict=True) if f]


def assess(
    predictor: Predictor,
    series: SeriesInfo,
    results: dict[int, SliceResult],
    scope: Scope,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, StudyDecision]:
    """(raw, shown, flagged, decision) of the slices scored so far."""
    raw = stack_probabilities(results, series.n_slices)
    shown = predictor.in_series(raw, series.positions_mm)
    flagged = flagged_mask(shown, predictor.thresholds) & scope.in_scope
    return raw, shown, flagged, study_decision(shown, predictor.study_threshold, scope.in_scope)


def score_series(
    predictor: Predictor,
    series: SeriesInfo,
    *,
    cache: ResultCache | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> SeriesScore:
    """Score every slice of ``series`` and assess it. Raises SeriesError for a series that
    cannot be read at all, ModelOutputError for a broken model; a slice that cannot be
    read is listed in ``failed`` and the rest is scored."""
    from ichviewer.ai.jobs import ScoringJob

    reader = SeriesReader(series)
    uids = [ref.sop_instance_uid for ref in series.slices]
    job = ScoringJob(predictor, reader, uids, order=None, cache=cache)

    def progress(done: int, total: int) -> None:
        if cancel is not None and cancel.is_set():
            job.cancel()
        if on_progress is not None:
            on_progress(done, total)

    results = job.run(on_progress=progress)
    scope = series_scope(series, reader)
    raw, shown, flagged, decision = assess(predictor, series, results, scope)
    return SeriesScore(
        series=series,
        results=results,
        raw=raw,
        shown=shown,
        flagged=flagged,
        decision=decision,
        scope=scope,
        failed=dict(job.failed),
        read_errors=list(reader.errors),
    )
