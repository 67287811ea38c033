"""The viewer's AI state: which model, the probabilities of the open series, recent CAMs.

Work runs off the UI thread (:mod:`ichviewer.ui.ai_worker` functions in
:class:`ichviewer.ui.workers.Job`): the checkpoint loads on the global pool (a window that
closes does not wait for it), scoring and CAMs on this controller's pool. Scoring wraps an
:class:`ichviewer.ai.jobs.ScoringJob`: the slice on screen first, :meth:`focus` moves its
priority when the user scrolls, a new series or model cancels it. Every job carries a
request id; results of replaced requests are dropped here (napari's layer slicer does the
same). Widgets never see a worker: they read :attr:`probabilities` and :meth:`cam` when the
signals say something changed.

:attr:`slice_probabilities` are the network's, slice by slice, as scored (and cached);
:attr:`probabilities` are what every widget shows and flags: the checkpoint's series-context
stage over them (ichviewer.core.slice_context), recomputed whenever a slice is scored, so a
slice's value settles once its neighbours are in.
"""

from __future__ import annotations

import collections
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6 import QtCore

from ichviewer.core.labels import LABELS
from ichviewer.core.scope import Scope
from ichviewer.core.triage import StudyDecision, study_decision
from ichviewer.site_config import SiteConfig, effective_model_path, load_site_config
from ichviewer.ui.ai_cams import CamMixin
from ichviewer.ui.ai_worker import (
    ModelFailed,
    ModelInfo,
    ModelLoaded,
    ScoringDone,
    SliceScored,
    load_model_job,
    score_job,
)
from ichviewer.ui.workers import Job, JobError

if TYPE_CHECKING:
    from ichviewer.ai.jobs import ScoringJob
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.results import SliceResult
    from ichviewer.io import SeriesReader

logger = logging.getLogger("ichviewer.ui")

#: Scores arriving in a burst (cache hits) reach the widgets at most this often.
EMIT_INTERVAL_MS = 40


class AIController(CamMixin, QtCore.QObject):
    """Model, scoring and CAMs of the series on screen.

    ``model_path``: the checkpoint to use (None: the bundled one); ``False`` turns AI off.
    """

    model_changed = QtCore.Signal()  # state, info or message changed
    model_error = QtCore.Signal(str)  # a checkpoint the user chose was refused (old one kept)
    scores_changed = QtCore.Signal()  # new probabilities for the open series (throttled)
    progress_changed = QtCore.Signal(int, int)  # scored, total (total 0: nothing open)
    scoring_finished = QtCore.Signal()
    scoring_failed = QtCore.Signal(str)
    cam_ready = QtCore.Signal(int)  # slice index

    def __init__(
        self, parent: QtCore.QObject | None = None, model_path: Path | str | bool | None = None
    ) -> None:
        super().__init__(parent)
        self._pool = QtCore.QThreadPool(self)
        self._pool.setMaxThreadCount(2)  # one scoring job and one CAM at a time
        self.disabled = model_path is False
        self._model_path = None if model_path in (None, False, True) else Path(str(model_path))
        #: the reading room's policy (model, thresholds, auto-scoring), read once per window
        self.site: SiteConfig = load_site_config()
        self.predictor: Predictor | None = None
        self.info: ModelInfo | None = None
        self.state = "off" if self.disabled else "idle"  # idle|loading|ready|missing|error|off
        self.message = "AI is turned off" if self.disabled else ""
        self._jobs: dict[int, Job] = {}
        self._retired: collections.deque[Job] = collections.deque(maxlen=16)
        self._last_id = 0
        self._load_rid = 0
        self._load_user = False
        # The open series.
        self.reader: SeriesReader | None = None
        #: is the open series a (non-contrast) head CT? Out of scope: nothing is flagged
        self.scope = Scope(True)
        self.slice_probabilities = np.zeros((0, len(LABELS)), dtype=np.float32)
        self._shown: np.ndarray | None = None
        self.n_from_cache = 0
        self.stale_dropped = 0
        self._want_scoring = False
        self._focus = 0
        self._only_loaded = False
        self._scoring: ScoringJob | None = None
        self._scoring_rid = 0
        self.scoring_done = False
        #: why scoring of the open series stopped (a broken model), shown instead of bars
        self.scoring_error = ""
        self._cams: collections.OrderedDict[int, SliceResult] = collections.OrderedDict()
        self._cam_rid = 0
        self._cam_running: int | None = None
        self._cam_wanted: int | None = None
        self._emit_timer = QtCore.QTimer(self)
        self._emit_timer.setSingleShot(True)
        self._emit_timer.setInterval(EMIT_INTERVAL_MS)
        self._emit_timer.timeout.connect(self.flush)

    # -- model -----------------------------------------------------------------------------

    @property
    def model_path(self) -> Path:
        return self._model_path or effective_model_path(None, self.site)

    @property
    def thresholds(self) -> np.ndarray:
        """The operating thresholds every flag on screen uses; +inf (nothing fires) without
        a model or for a series out of the model's scope."""
        if self.info is None or not self.scope.in_scope:
            return np.full(len(LABELS), np.inf, dtype=np.float32)
        return np.asarray(self.info.thresholds, dtype=np.float32)

    def study_decision(self) -> StudyDecision | None:
        """The study-level call on the open series (None without a model or series)."""
        if self.info is None or self.reader is None:
            return None
        return study_decision(self.probabilities, self.info.study_threshold, self.scope.in_scope)

    @property
    def ready(self) -> bool:
        return self.predictor is not None

    @property
    def loading(self) -> bool:
        return self._load_rid in self._jobs or (self.state == "loading")

    @property
    def custom_model_path(self) -> Path | None:
        """The checkpoint chosen instead of the bundled one, if any."""
        return self._model_path

    def use_default_model(self) -> None:
        """Forget a chosen checkpoint and (re)load the bundled one."""
        self._model_path = None
        if self.predictor is None:
            self.state, self.message = "idle", ""
            self.ensure_model()

    def ensure_model(self) -> None:
        """Start loading the configured model unless it is loaded, loading or known bad."""
        if self.state != "idle":
            return
        path = self.model_path
        if not path.is_file():
            self.state = "missing"
            self.message = (
                f"No AI model installed (expected {path}); the viewer works without AI. "
                "Load one with File > Load model…"
            )
            logger.warning("no AI model at %s", path)
            self.model_changed.emit()
            return
        self._start_load(path, user=False)

    def load_model(self, path: str | Path) -> None:
        """Validate and switch to another checkpoint; if it is refused the current model
        stays and :attr:`model_error` says why."""
        self.disabled = False
        self._start_load(Path(path), user=True)

    def _start_load(self, path: Path, user: bool) -> None:
        self._last_id += 1
        self._load_rid, self._load_user = self._last_id, user
        if self.predictor is None:
            self.state = "loading"
            self.message = f"Loading AI model {path.name}…"
        job = Job(self._load_rid, load_model_job, str(path), self.site)
        job.signals.returned.connect(self._on_model_returned)
        job.signals.errored.connect(self._on_model_errored)
        job.signals.finished.connect(self._on_finished)
        self._jobs[job.request_id] = job
        # The global pool: closing a window must not wait for a checkpoint to finish loading.
        QtCore.QThreadPool.globalInstance().start(job.run)
        self.model_changed.emit()

    def _on_model_returned(self, rid: int, out: ModelLoaded | ModelFailed) -> None:
        if rid != self._load_rid:
            self.stale_dropped += 1
            return
        if isinstance(out, ModelFailed):
            self._model_refused(out.message)
            return
        changed = self.info is None or out.info.sha256 != self.info.sha256
        self.predictor, self.info = out.predictor, out.info
        self._shown = None
        self.state, self.message = "ready", ""
        if self._load_user:
            self._model_path = Path(out.info.path) if out.info.path else self._model_path
        self.model_changed.emit()
        if changed and self.reader is not None:
            self._restart_series()
        elif self._want_scoring and self.reader is not None and self._scoring is None:
            self._start_scoring()

    def _on_model_errored(self, rid: int, err: JobError) -> None:
        if rid == self._load_rid:
            self._model_refused(err.message)

    def _model_refused(self, message: str) -> None:
        logger.error("model refused: %s", message)
        if self._load_user and self.predictor is not None:
            self.model_changed.emit()
        else:
            self.state, self.message = "error", f"AI model could not be loaded: {message}"
            self.model_changed.emit()
        if self._load_user:
            self.model_error.emit(message)

    # -- series ----------------------------------------------------------------------------

    def set_series(self, reader: SeriesReader, index: int, *, score: bool) -> None:
        """A series is on screen; score it (slice ``index`` first) when ``score``."""
        from ichviewer.io.scope import series_scope

        self.close_series()
        self.reader = reader
        # The headers now; the images' evidence arrives from the scoring job, before any
        # score (decoding slices here would delay the first image on screen).
        self._set_scope(series_scope(reader.series))
        self.slice_probabilities = np.full(
            (reader.series.n_slices, len(LABELS)), np.nan, np.float32
        )
        self._shown = None
        self._focus = index
        self._schedule_emit()
        if score:
            self.score()

    def close_series(self) -> None:
        """Drop the series: cancel its work; whatever it still reports is dropped."""
        self._cancel_scoring()
        self._cam_rid = self._next_id()  # a CAM in flight is now stale
        self._cam_running = self._cam_wanted = None
        self._cams.clear()
        self.reader = None
        self.scoring_error = ""
        self.scope = Scope(True)
        self._only_loaded = False
        self._want_scoring = False
        self.scoring_done = False
        self.n_from_cache = 0
        self.slice_probabilities = np.zeros((0, len(LABELS)), dtype=np.float32)
        self._shown = None
        self._schedule_emit()

    def score(self) -> None:
        """Score the open series (loads the model first if needed)."""
        if self.reader is None or self.disabled:
            return
        self._want_scoring = True
        if self.predictor is None:
            self.ensure_model()
            return
        if self._scoring is None and not self.scoring_done:
            self._start_scoring()

    def _restart_series(self) -> None:
        """Another model: forget the old model's results and CAMs, score again."""
        self._cancel_scoring()
        self._cams.clear()
        self._cam_rid = self._next_id()
        self._cam_running = None
        self.slice_probabilities[:] = np.nan
        self._shown = None
        self.scoring_done = False
        self.n_from_cache = 0
        self._schedule_emit()
        if self._want_scoring:
            self._start_scoring()
        if self._cam_wanted is not None:
            self.request_cam(self._cam_wanted)

    def only_loaded_slices(self) -> None:
        """Score only slices already decoded (the user cancelled loading the rest)."""
        self._only_loaded = True
        if self._scoring is not None:
            self._start_scoring()

    def focus(self, index: int) -> None:
        """The user moved to slice ``index``: score it (and its neighbours) next."""
        self._focus = index
        if self._scoring is not None:
            self._scoring.reprioritise(index)

    def _start_scoring(self) -> None:
        from ichviewer.ai.cache import ResultCache
        from ichviewer.ai.jobs import ScoringJob

        assert self.predictor is not None and self.reader is not None
        self._cancel_scoring()
        reader = self.reader
        uids = [ref.sop_instance_uid for ref in reader.series.slices]
        todo = [
            i
            for i in range(len(uids))
            if np.isnan(self.slice_probabilities[i]).any()
            and (reader.loaded[i] or not self._only_loaded)
        ]
        order = sorted(todo, key=lambda i: (abs(i - self._focus), i < self._focus))
        self._scoring = ScoringJob(
            self.predictor, reader, uids, order=order, cache=ResultCache(self.predictor.sha256)
        )
        self._scoring_rid = rid = self._next_id()
        job = Job(rid, score_job, self._scoring, reader, self._only_loaded)
        s = job.signals
        s.progressed.connect(self._on_scoring_report)
        s.returned.connect(self._on_scoring_returned)
        s.errored.connect(self._on_scoring_errored)
        s.finished.connect(self._on_finished)
        self._jobs[rid] = job
        self._pool.start(job.run)
        self._schedule_emit()

    def _cancel_scoring(self) -> None:
        if self._scoring is not None:
            self._scoring.cancel()
        job = self._jobs.get(self._scoring_rid)
        if job is not None:
            job.cancel_event.set()
        self._scoring = None
        self._scoring_rid = self._next_id()

    def _set_scope(self, scope: Scope) -> None:
        self.scope = scope
        if not scope.in_scope:
            logger.info("series out of the model's scope: %s", scope.reason)

    def _on_scoring_report(self, rid: int, p: SliceScored | Scope) -> None:
        """The scoring job reports the series' scope first, then one slice at a time."""
        if not isinstance(p, Scope):
            self._on_scored(rid, p)
        elif rid == self._scoring_rid and self.reader is not None:
            self._set_scope(p)
            self._schedule_emit()

    def _on_scored(self, rid: int, p: SliceScored) -> None:
        if rid != self._scoring_rid or self.reader is None:
            self.stale_dropped += 1
            return
        self.slice_probabilities[p.index] = p.probabilities
        self._shown = None
        self.n_from_cache += int(p.from_cache)
        self._schedule_emit()

    def _on_scoring_returned(self, rid: int, done: ScoringDone) -> None:
        if rid != self._scoring_rid:
            return
        self._scoring = None
        self.scoring_done = True
        for i, why in done.failed.items():
            logger.warning("slice %d was not scored: %s", i, why)
        self.flush()
        self.scoring_finished.emit()

    def _on_scoring_errored(self, rid: int, err: JobError) -> None:
        if rid != self._scoring_rid:
            return
        self._scoring = None
        self.scoring_error = err.message
        self.flush()
        self.scoring_failed.emit(err.message)

    @property
    def scoring(self) -> bool:
        return self._scoring is not None

    @property
    def probabilities(self) -> np.ndarray:
        """(N, 6) float32 of the open series as shown and flagged (NaN rows: not scored):
        the model's series-context stage over :attr:`slice_probabilities`, or those as they
        are for a model without one."""
        if self._shown is None:
            raw = self.slice_probabilities
            if self.predictor is None or self.reader is None or not len(raw):
                self._shown = raw.copy()
            else:
                pos = self.reader.series.positions_mm
                self._shown = self.predictor.in_series(raw, pos)
        return self._shown

    @property
    def n_scored(self) -> int:
        return int((~np.isnan(self.slice_probabilities).any(axis=1)).sum())

    def slice_probabilities_at(self, index: int) -> np.ndarray | None:
        """The network's float32[6] for slice ``index`` alone, or None when not scored."""
        if not 0 <= index < len(self.slice_probabilities):
            return None
        p = self.slice_probabilities[index]
        return None if np.isnan(p).any() else p.copy()

    def context_pending(self, index: int) -> bool:
        """True while a slice within the series-context reach of ``index`` is unscored (its
        shown probability may still move)."""
        if self.info is None or not self.info.context_mm or self.reader is None:
            return False
        reach = max(self.info.context_mm)
        pos = np.asarray(self.reader.series.positions_mm, dtype=np.float64)
        if not 0 <= index < len(pos):
            return False
        near = np.abs(pos - pos[index]) <= reach + 1e-6
        return bool(np.isnan(self.slice_probabilities[near]).any())

    def probabilities_at(self, index: int) -> np.ndarray | None:
        """float32[6] of slice ``index``, or None when not scored (yet)."""
        if not 0 <= index < len(self.probabilities):
            return None
        p = self.probabilities[index]
        return None if np.isnan(p).any() else p.copy()

    # -- plumbing --------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def _schedule_emit(self) -> None:
        if not self._emit_timer.isActive():
            self._emit_timer.start()

    def flush(self) -> None:
        """Tell the widgets about new scores now (instead of at the next timer tick)."""
        self._emit_timer.stop()
        total = len(self.slice_probabilities)
        self.scores_changed.emit()
        self.progress_changed.emit(self.n_scored, total)

    def _on_finished(self, rid: int) -> None:
        job = self._jobs.pop(rid, None)
        if job is not None:
            self._retired.append(job)  # its thread may still be returning from an emit

    def describe(self) -> dict[str, Any]:
        """State for tests and the status bar."""
        return {
            "state": self.state,
            "model": None if self.info is None else self.info.name,
            "scored": self.n_scored,
            "total": len(self.slice_probabilities),
            "from_cache": self.n_from_cache,
        }

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel scoring and CAMs and wait for their threads (window closing)."""
        self._emit_timer.stop()
        self._cancel_scoring()
        for rid, job in self._jobs.items():
            if rid != self._load_rid:
                job.cancel_event.set()
        self._cam_rid = self._next_id()
        self._pool.waitForDone(timeout_ms)
