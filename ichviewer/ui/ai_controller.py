"""The window's AI: which model, the scores of the open series, the CAMs of recent slices.

Everything is computed by :mod:`ichviewer.ai.engine`: the model is resolved and loaded by
it (:class:`ichviewer.ui.ai_model.ModelSource`, :attr:`AIController.model`), and the open
series is scored by an engine ScoringJob (the slice on screen first; :meth:`focus` moves its
priority) whose results feed the engine's :class:`~ichviewer.ai.engine.SeriesScoring`,
the same object triage and the worklist use: raw per-slice probabilities in, series
context, flags and the study-level call out. When the heatmap of an unscored slice is
wanted, the job scores that slice next with its CAMs from the same forward pass.

Requests run through a :class:`ichviewer.ui.runner.RequestRunner` (lanes "score" and
"cam"); results of replaced requests never arrive here. Widgets never see a
worker: they read :attr:`scores` and :meth:`cam` when the signals say something changed.
"""

from __future__ import annotations

import collections
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6 import QtCore

from ichviewer.ai.engine import ModelInfo, SeriesScoring
from ichviewer.core.labels import LABELS
from ichviewer.core.scope import Scope
from ichviewer.ui.ai_model import ModelSource
from ichviewer.ui.ai_worker import (
    ScoringDone,
    SliceScored,
    cam_job,
    score_job,
)
from ichviewer.ui.runner import RequestRunner
from ichviewer.ui.workers import JobError

if TYPE_CHECKING:
    from ichviewer.ai.jobs import ScoringJob
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.results import SliceResult
    from ichviewer.io import SeriesReader

logger = logging.getLogger("ichviewer.ui")

#: Scores arriving in a burst (cache hits) reach the widgets at most this often.
EMIT_INTERVAL_MS = 40
#: CAMs kept (each is 6 x H x W float32: 6 MB for a 512 x 512 slice).
CAM_LRU_SIZE = 6


class AIController(QtCore.QObject):
    """Model, scoring and CAMs of the series on screen.

    ``model_path``: the checkpoint given on the command line (None: the site's, else
    ``user_model``, else the bundled one); ``False`` turns AI off.
    """

    model_changed = QtCore.Signal()  # state, info or message changed
    model_error = QtCore.Signal(str)  # a checkpoint the user chose was refused (old one kept)
    scores_changed = QtCore.Signal()  # new probabilities for the open series (throttled)
    slice_scored = QtCore.Signal(int)  # slice index, as each result arrives
    progress_changed = QtCore.Signal(int, int)  # scored, total (total 0: nothing open)
    scoring_finished = QtCore.Signal()
    scoring_failed = QtCore.Signal(str)
    cam_ready = QtCore.Signal(int)  # slice index

    def __init__(
        self,
        parent: QtCore.QObject | None = None,
        model_path: Path | str | bool | None = None,
        user_model: str | Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = RequestRunner(self, max_threads=2)  # one scoring job and one CAM
        self.model = ModelSource(self, model_path, user_model)
        self.site = self.model.site
        self.ensure_model, self.load_model = self.model.ensure, self.model.load
        self.model.changed.connect(self.model_changed)
        self.model.refused.connect(self.model_error)
        self.model.loaded.connect(self._on_model_loaded)
        self.reader: SeriesReader | None = None
        self.scores: SeriesScoring | None = None
        self._want_scoring = False
        self._focus = 0
        self._only_loaded = False
        self._job: ScoringJob | None = None
        self.scoring_done = False
        #: why scoring of the open series stopped (a broken model), shown instead of bars
        self.scoring_error = ""
        self._cams: collections.OrderedDict[int, SliceResult] = collections.OrderedDict()
        self._cam_pending: int | None = None
        self._cam_in_job = False  # the pending CAM comes with the scoring job's result
        self._cam_wanted: int | None = None
        self._emit_timer = QtCore.QTimer(self)
        self._emit_timer.setSingleShot(True)
        self._emit_timer.setInterval(EMIT_INTERVAL_MS)
        self._emit_timer.timeout.connect(self.flush)

    # -- model (ichviewer.ui.ai_model.ModelSource) -------------------------------------------

    @property
    def predictor(self) -> Predictor | None:
        return self.model.predictor

    @property
    def info(self) -> ModelInfo | None:
        return self.model.info

    @property
    def state(self) -> str:
        """idle | loading | ready | missing | error | off"""
        return self.model.state

    @property
    def message(self) -> str:
        return self.model.message

    @property
    def ready(self) -> bool:
        return self.model.predictor is not None

    def _on_model_loaded(self, another: bool) -> None:
        if another and self.reader is not None:
            self._restart_series()
        elif self._want_scoring and self.reader is not None and self._job is None:
            self._start_scoring()

    # -- series ----------------------------------------------------------------------------

    def set_series(
        self, reader: SeriesReader, index: int, *, score: bool, cam: bool = False
    ) -> None:
        """A series is on screen; score it (slice ``index`` first) when ``score``; with
        ``cam`` (the heatmap is on) that slice's CAMs come with its scores."""
        from ichviewer.io.scope import series_scope

        self.close_series()
        self.reader = reader
        # The headers now; the images' evidence arrives from the scoring job, before any
        # score (decoding slices here would delay the first image on screen).
        self.scores = SeriesScoring(self.predictor, reader.series, series_scope(reader.series))
        self._focus = index
        self._cam_wanted = index if cam else None
        self._schedule_emit()
        if score:
            self.score()

    def close_series(self) -> None:
        """Drop the series: cancel its work; whatever it still reports is dropped."""
        self._cancel_work()
        self._cam_wanted = None
        self.reader = self.scores = None
        self.scoring_error = ""
        self._only_loaded = self._want_scoring = self.scoring_done = False
        self._schedule_emit()

    def score(self) -> None:
        """Score the open series (loads the model first if needed)."""
        if self.reader is None or self.model.disabled:
            return
        self._want_scoring = True
        if self.predictor is None:
            self.ensure_model()
        elif self._job is None and not self.scoring_done:
            self._start_scoring()

    def _restart_series(self) -> None:
        """Another model: forget the old model's results and CAMs, score again."""
        self._cancel_work()
        assert self.reader is not None and self.scores is not None
        self.scores = SeriesScoring(self.predictor, self.reader.series, self.scores.scope)
        self.scoring_done = False
        self._schedule_emit()
        if self._want_scoring:
            self._start_scoring()
        if self._cam_wanted is not None:
            self.request_cam(self._cam_wanted)

    def only_loaded_slices(self) -> None:
        """Score only slices already decoded (the user cancelled loading the rest)."""
        self._only_loaded = True
        if self._job is not None:
            self._start_scoring()

    def focus(self, index: int) -> None:
        """The user moved to slice ``index``: score it (and its neighbours) next."""
        self._focus = index
        if self._job is not None:
            self._job.reprioritise(index)

    def _start_scoring(self) -> None:
        from ichviewer.ai.cache import ResultCache

        assert self.predictor is not None and self.reader is not None and self.scores
        self._stop_scoring()
        reader = self.reader
        allowed = reader.loaded if self._only_loaded else None
        order = self.scores.todo(self._focus, allowed)
        self._job = self.scores.job(reader, order, ResultCache(self.predictor.sha256))
        if self._cam_wanted is not None:
            self.request_cam(self._cam_wanted)  # before it runs: from the same forward pass
        self.runner.submit(
            "score",
            score_job,
            self._job,
            reader,
            self._only_loaded,
            on_progress=self._on_scoring_report,
            on_returned=self._on_scoring_returned,
            on_errored=self._on_scoring_errored,
        )
        self._schedule_emit()

    def _stop_scoring(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self._job = None
        self.runner.cancel("score")
        if self._cam_in_job:
            self._cam_pending, self._cam_in_job = None, False

    def _cancel_work(self) -> None:
        """Stop the scoring job and the CAM in flight; forget the CAMs."""
        self._stop_scoring()
        self.runner.cancel("cam")
        self._cams.clear()
        self._cam_pending = None

    def _on_scoring_report(self, p: SliceScored | Scope) -> None:
        """The scoring job reports the series' scope first, then one slice at a time."""
        if self.scores is None:
            return
        if isinstance(p, Scope):
            self.scores.set_scope(p)
            if not p.in_scope:
                logger.info("series out of the model's scope: %s", p.reason)
        else:
            self.scores.add(p.index, p.result)
            if p.result.cams is not None:
                self._store_cam(p.index, p.result)
            elif self._cam_in_job and p.index == self._cam_pending:  # it was in the cache
                self._cam_pending, self._cam_in_job = None, False
                self.request_cam(p.index)
            self.slice_scored.emit(p.index)
        self._schedule_emit()

    def _on_scoring_returned(self, done: ScoringDone) -> None:
        self._stop_scoring()
        self.scoring_done = True
        for i, why in done.failed.items():
            logger.warning("slice %d was not scored: %s", i, why)
        self.flush()
        self.scoring_finished.emit()
        if self._cam_wanted is not None:
            self.request_cam(self._cam_wanted)  # a CAM the job did not deliver

    def _on_scoring_errored(self, err: JobError) -> None:
        self._stop_scoring()
        self.scoring_error = err.message
        self.flush()
        self.scoring_failed.emit(err.message)

    # -- CAMs ------------------------------------------------------------------------------

    def cam(self, index: int) -> SliceResult | None:
        """The slice's result with CAMs, if computed recently."""
        res = self._cams.get(index)
        if res is not None:
            self._cams.move_to_end(index)
        return res

    def request_cam(self, index: int) -> None:
        """Compute the CAMs of slice ``index`` (the one on screen): by the scoring job with
        its scores when it has not scored it yet, else on its own; one at a time, the
        latest request wins. Without a model yet, the wish is kept for when it is loaded."""
        self._cam_wanted = index
        if index in self._cams or self.predictor is None or self.reader is None:
            return
        if self._cam_pending is not None:
            return
        self._cam_pending = index
        self._cam_in_job = self._job is not None and self._job.cam_next(index)
        if self._cam_in_job:
            return
        self.runner.submit(
            "cam",
            cam_job,
            self.predictor,
            self.reader,
            index,
            on_returned=lambda done: self._store_cam(done.index, done.result),
            on_errored=self._on_cam_errored,
        )

    def _store_cam(self, index: int, result: SliceResult) -> None:
        self._cams[index] = result
        while len(self._cams) > CAM_LRU_SIZE:
            self._cams.popitem(last=False)
        if self._cam_pending == index:
            self._cam_pending, self._cam_in_job = None, False
        self.cam_ready.emit(index)
        if self._cam_wanted is not None and self._cam_wanted not in self._cams:
            self.request_cam(self._cam_wanted)

    def _on_cam_errored(self, err: JobError) -> None:
        self._cam_pending = None
        self.scoring_failed.emit(f"heatmap: {err.message}")

    # -- what the widgets read -------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """Is the open series a (non-contrast) head CT? Out of scope: nothing is flagged."""
        return self.scores.scope if self.scores is not None else Scope(True)

    @property
    def thresholds(self) -> np.ndarray:
        """The operating thresholds every flag on screen uses (+inf: nothing fires)."""
        if self.scores is not None and self.predictor is not None:
            return self.scores.thresholds
        if self.info is None:
            return np.full(len(LABELS), np.inf, dtype=np.float32)
        return np.asarray(self.info.thresholds, dtype=np.float32)

    @property
    def probabilities(self) -> np.ndarray:
        """(N, 6) float32 of the open series as shown and flagged (NaN rows: not scored)."""
        if self.scores is None:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return self.scores.shown

    @property
    def slice_probabilities(self) -> np.ndarray:
        """(N, 6) float32: the network's, slice by slice, as scored (and cached)."""
        if self.scores is None:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return self.scores.raw

    def probabilities_at(self, index: int) -> np.ndarray | None:
        """float32[6] of slice ``index`` as shown, or None when not scored (yet)."""
        return None if self.scores is None else self.scores.shown_at(index)

    @property
    def n_scored(self) -> int:
        return 0 if self.scores is None else self.scores.n_scored

    @property
    def n_from_cache(self) -> int:
        return 0 if self.scores is None else self.scores.n_from_cache

    @property
    def scoring(self) -> bool:
        return self._job is not None

    def ready_for_screenshot(self, index: int, want_cam: bool) -> bool:
        """What a screenshot should show is there: the slice's scores (and CAM), the whole
        study scored, or no model to wait for."""
        if self.reader is None or self.state in ("missing", "error", "off"):
            return True
        if not self.ready or self.probabilities_at(index) is None or self.scoring:
            return False
        return not want_cam or self.cam(index) is not None

    # -- plumbing --------------------------------------------------------------------------

    def _schedule_emit(self) -> None:
        if not self._emit_timer.isActive():
            self._emit_timer.start()

    def flush(self) -> None:
        """Tell the widgets about new scores now (instead of at the next timer tick)."""
        self._emit_timer.stop()
        self.scores_changed.emit()
        self.progress_changed.emit(self.n_scored, len(self.slice_probabilities))

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
        if self._job is not None:
            self._job.cancel()
        self.runner.shutdown(timeout_ms)
        self.model.runner.cancel()
