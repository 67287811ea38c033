"""Background AI work of the viewer: load a checkpoint, score a series, compute a CAM, score
one study of a worklist. Plain functions run by :class:`ichviewer.ui.runner.RequestRunner`
on worker threads; they call :mod:`ichviewer.ai.engine`, report dataclasses and never touch
widgets.

torch is imported only inside these functions (through ichviewer.ai), so importing this
module keeps the window's start fast.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ichviewer.ai.engine import LoadedModel, load_model
from ichviewer.core.labels import LABELS
from ichviewer.errors import CancelledError, IchViewerError

if TYPE_CHECKING:
    from ichviewer.ai.engine import SeriesScore
    from ichviewer.ai.jobs import ScoringJob
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.results import SliceResult
    from ichviewer.io import SeriesInfo, SeriesReader
    from ichviewer.site_config import SiteConfig

logger = logging.getLogger("ichviewer.ui")

Report = Any  # Callable[[object], None]


@dataclass(frozen=True)
class ModelFailed:
    """A checkpoint that was refused, and why (the ModelLoadError's message)."""

    path: str
    message: str


@dataclass(frozen=True)
class SliceScored:
    """One slice scored (or read from the cache); ``result.cams`` is set for the slice on
    screen when its heatmap is wanted (the same forward pass)."""

    index: int
    result: SliceResult


@dataclass(frozen=True)
class ScoringDone:
    n_scored: int
    failed: dict[int, str]


@dataclass(frozen=True)
class CamDone:
    index: int
    result: SliceResult


@dataclass(frozen=True)
class StudyScore:
    """One worklist study after scoring."""

    path: str
    description: str
    n_slices: int
    max_any: float  # the study's P(any) (its largest slice P(any), as shown)
    n_flagged: int
    study_instance_uid: str = ""
    study_flagged: bool = False  # at the checkpoint's study-level threshold
    in_scope: bool = True
    scope_reason: str = ""

    @classmethod
    def from_score(cls, path: str, series: SeriesInfo, score: SeriesScore) -> StudyScore:
        """The worklist row of one scored series (``score`` has at least one result)."""
        scored = sorted(score.results)
        return cls(
            path=str(path),
            description=series.description,
            n_slices=series.n_slices,
            max_any=float(score.shown[scored, LABELS.index("any")].max()),
            n_flagged=int(score.flagged[scored].any(axis=1).sum()),
            study_instance_uid=series.study_instance_uid,
            study_flagged=score.decision.flagged,
            in_scope=score.scope.in_scope,
            scope_reason=score.scope.reason,
        )


def load_model_job(
    path: str, site: SiteConfig, report: Report, cancel: threading.Event
) -> LoadedModel | ModelFailed:
    """Load and validate a checkpoint under the window's site policy; a refused file comes
    back as ModelFailed whose message names the file and what is wrong."""
    try:
        return load_model(path, site)
    except IchViewerError as exc:
        return ModelFailed(str(path), str(exc))


def score_job(
    job: ScoringJob,
    reader: SeriesReader,
    loaded_only: bool,
    report: Report,
    cancel: threading.Event,
) -> ScoringDone:
    """Run a ScoringJob of the engine (the controller reprioritises and cancels it directly),
    reporting first the series' scope from its images (a few slices are decoded for it:
    here, off the UI thread, before any slice is scored; none once the user cancelled
    loading), then each slice as it is scored or read from the cache."""
    from ichviewer.io.scope import series_scope

    report(series_scope(reader.series, reader, loaded_only=loaded_only, cancel=cancel))

    def on_result(i: int, res: SliceResult) -> None:
        if cancel.is_set():
            job.cancel()
        report(SliceScored(i, res))

    results = job.run(on_result=on_result)
    return ScoringDone(len(results), dict(job.failed))


def cam_job(
    predictor: Predictor, reader: SeriesReader, index: int, report: Report, cancel: threading.Event
) -> CamDone:
    """Probabilities and CAMs of one slice already scored (the one on screen)."""
    hu = reader.slice(index)
    if cancel.is_set():
        raise CancelledError("CAM no longer wanted")
    return CamDone(index, predictor.predict_one(hu, want_cam=True))
