"""Background AI work of the viewer: load a checkpoint, score a series, compute a CAM, score
one study of a worklist. Plain functions run by :class:`ichviewer.ui.workers.Job` on worker
threads; they take plain data, report dataclasses and never touch widgets.

torch is imported only inside these functions (through ichviewer.ai), so importing this
module keeps the window's start fast.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichviewer.core.labels import LABELS
from ichviewer.errors import CancelledError, IchViewerError, SeriesError

if TYPE_CHECKING:
    from ichviewer.ai.jobs import ScoringJob
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.results import SliceResult
    from ichviewer.io import SeriesReader
    from ichviewer.site_config import SiteConfig

logger = logging.getLogger("ichviewer.ui")

Report = Any  # Callable[[object], None]

#: Predictors kept per process (the bundled one and a user's): a second window, or the
#: same file opened again, does not pay the 1-5 s load.
MAX_PREDICTORS = 3
_predictors: collections.OrderedDict[tuple, Predictor] = collections.OrderedDict()
_predictors_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """What the window shows about the model that made a probability."""

    name: str
    sha256: str
    path: str
    synthetic: bool
    thresholds: tuple[float, ...]
    card: dict[str, Any] = field(default_factory=dict, compare=False)
    arch: str = ""
    runtime: dict[str, Any] = field(default_factory=dict, compare=False)
    threshold_source: str = "checkpoint"
    #: distances (mm) of the series-context stage; () when the model scores slices alone
    context_mm: tuple[float, ...] = ()
    #: the study-level threshold on a study's largest P(any)
    study_threshold: float = 0.5

    @classmethod
    def from_predictor(cls, p: Predictor) -> ModelInfo:
        ck = p.checkpoint
        return cls(
            name=p.name,
            sha256=p.sha256,
            path=str(ck.path or ""),
            synthetic=ck.synthetic,
            thresholds=tuple(float(t) for t in p.thresholds),
            card=dict(ck.card),
            arch=ck.arch,
            runtime=p.describe(),
            threshold_source=ck.threshold_source,
            context_mm=() if ck.context is None else tuple(ck.context.distances_mm),
            study_threshold=p.study_threshold,
        )

    @property
    def short_sha(self) -> str:
        return self.sha256[:8]

    def footer(self) -> str:
        """e.g. 'ichviewer-densenet (sha 1a2b3c4d) — synthetic-phantom model, not for
        diagnostic use'."""
        kind = "synthetic-phantom model, " if self.synthetic else ""
        return f"{self.name} (sha {self.short_sha}) — {kind}not for diagnostic use"

    def as_dict(self) -> dict[str, Any]:
        """The ``model`` block of an export."""
        card = self.card
        return {
            "name": self.name,
            "sha256": self.sha256,
            "path": self.path,
            "arch": self.arch,
            "version": card.get("version"),
            "date": card.get("date"),
            "training_data": card.get("training_data"),
            "intended_use": card.get("intended_use"),
            "synthetic": self.synthetic,
        }


@dataclass(frozen=True)
class ModelLoaded:
    predictor: Predictor
    info: ModelInfo


@dataclass(frozen=True)
class ModelFailed:
    """A checkpoint that was refused, and why (the ModelLoadError's message)."""

    path: str
    message: str


@dataclass(frozen=True)
class SliceScored:
    index: int
    probabilities: np.ndarray
    from_cache: bool


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


def _model_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def predictor_for(path: str | Path, site: SiteConfig | None = None) -> Predictor:
    """A Predictor of the checkpoint at ``path`` with the site policy ``site`` (read from
    the site file when not given) applied, shared in this process while the file is
    unchanged (a replaced file is loaded afresh). Raises ModelLoadError for a bad file."""
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.site import load_site_checkpoint
    from ichviewer.errors import ModelLoadError

    path = Path(path)
    try:
        key = _model_key(path)
    except OSError as exc:
        raise ModelLoadError(
            f"{path}: cannot read the checkpoint ({exc.strerror or exc})"
        ) from None
    # One lock for all loads: two windows asking for the same file load it once.
    with _predictors_lock:
        p = _predictors.get(key)
        if p is None:
            p = Predictor(load_site_checkpoint(path, site))
            _predictors[key] = p
            while len(_predictors) > MAX_PREDICTORS:
                _predictors.popitem(last=False)
        _predictors.move_to_end(key)
        return p


def load_model_job(
    path: str, site: SiteConfig, report: Report, cancel: threading.Event
) -> ModelLoaded | ModelFailed:
    """Load and validate a checkpoint under the window's site policy; a refused file comes
    back as ModelFailed whose message names the file and what is wrong."""
    try:
        p = predictor_for(path, site)
    except IchViewerError as exc:
        return ModelFailed(str(path), str(exc))
    return ModelLoaded(p, ModelInfo.from_predictor(p))


def score_job(
    job: ScoringJob,
    reader: SeriesReader,
    loaded_only: bool,
    report: Report,
    cancel: threading.Event,
) -> ScoringDone:
    """Run a ScoringJob (the controller reprioritises and cancels it directly), reporting
    first the series' scope from its images (a few slices are decoded for it: here, off the
    UI thread, before any slice is scored; none once the user cancelled loading), then
    each slice as it is scored or read from the cache."""
    from ichviewer.io.scope import series_scope

    report(series_scope(reader.series, reader, loaded_only=loaded_only, cancel=cancel))

    def on_result(i: int, res: SliceResult) -> None:
        report(SliceScored(i, np.asarray(res.probabilities, dtype=np.float32), res.from_cache))

    results = job.run(on_result=on_result)
    return ScoringDone(len(results), dict(job.failed))


def cam_job(
    predictor: Predictor, reader: SeriesReader, index: int, report: Report, cancel: threading.Event
) -> CamDone:
    """Probabilities and CAMs of one slice (the one on screen)."""
    hu = reader.slice(index)
    if cancel.is_set():
        raise CancelledError("CAM no longer wanted")
    return CamDone(index, predictor.predict_one(hu, want_cam=True))


def study_job(
    path: str, predictor: Predictor, report: Report, cancel: threading.Event
) -> StudyScore:
    """Scan one worklist entry (a folder or zip), score its main series with the result
    cache, and summarise: highest P(any) and number of flagged slices."""
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.engine import score_series
    from ichviewer.io import scan

    found = scan([path], cancel=cancel)
    series = found.best_series()
    if series is None:
        why = f" ({found.errors[0].error})" if found.errors else ""
        raise SeriesError(f"{Path(path).name}: no CT image series found{why}")
    score = score_series(
        predictor,
        series,
        cache=ResultCache(predictor.sha256),
        on_progress=lambda done, total: report((done, total)),
        cancel=cancel,
    )
    if cancel.is_set():
        raise CancelledError("worklist scoring stopped")
    if not score.results:
        raise SeriesError(f"{Path(path).name}: no slice could be scored")
    scored = sorted(score.results)
    return StudyScore(
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
