"""Score a series in priority order (the slice on screen first), cancellable, Qt-free.

:class:`ScoringJob` is driven by the caller (:meth:`ScoringJob.run`, e.g. inside a UI worker
or the triage command) or runs in a plain thread (:meth:`ScoringJob.start`). The UI moves its
focus with :meth:`ScoringJob.reprioritise` and drops it with :meth:`ScoringJob.cancel`; after
cancel no further result is handed out. :meth:`ScoringJob.cam_next` has the slice on screen
scored next with its class activation maps, from the same forward pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ichviewer.ai.results import SliceResult
from ichviewer.core.rules import outward_order

if TYPE_CHECKING:
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.predictor import Predictor

logger = logging.getLogger("ichviewer.ai")

OnResult = Callable[[int, SliceResult], None]
OnProgress = Callable[[int, int], None]


#: The outward slice order (ichviewer.core.rules), under the name ichviewer.ai exports.
priority_order = outward_order


class ScoringJob:
    """Scores the slices of one series, most wanted first, using and filling a cache.

    Parameters
    ----------
    predictor : the Predictor to run
    source : an object with ``.slice(i) -> HU`` (a SeriesReader) or a callable ``i -> HU``
    uids : SOP Instance UID of each slice (the cache key), one per index
    order : an index to score outward from, an explicit list of indices, or None (0..n-1)
    cache : a ResultCache for this predictor's model, or None
    want_cam : compute CAMs too (cache reads are then skipped: CAMs are not cached)
    """

    def __init__(
        self,
        predictor: Predictor,
        source: Any,
        uids: Sequence[str],
        order: int | Sequence[int] | None = None,
        cache: ResultCache | None = None,
        *,
        want_cam: bool = False,
    ) -> None:
        self.predictor = predictor
        self._get: Callable[[int], np.ndarray] = (
            source.slice if hasattr(source, "slice") else source
        )
        self.uids = list(uids)
        self.n = len(self.uids)
        self.cache = cache
        self.want_cam = want_cam
        if cache is not None and cache.model_sha256 != predictor.sha256:
            raise ValueError("the cache belongs to another model")
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._urgent = True  # next batch is a single slice: the one on screen
        self._cam_index: int | None = None  # that slice's CAMs are wanted too
        self._done: set[int] = set()
        self._pending = self._initial_order(order)
        self.results: dict[int, SliceResult] = {}
        self.failed: dict[int, str] = {}
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _initial_order(self, order: int | Sequence[int] | None) -> list[int]:
        if order is None:
            return list(range(self.n))
        if isinstance(order, (int, np.integer)):
            return outward_order(int(order), self.n)
        seen: set[int] = set()
        out = []
        for i in order:
            i = int(i)
            if not 0 <= i < self.n:
                raise IndexError(f"slice index {i} outside 0..{self.n - 1}")
            if i not in seen:
                seen.add(i)
                out.append(i)
        return out

    # -- control (any thread) ---------------------------------------------------------------
    def reprioritise(self, center_index: int) -> None:
        """Score outward from ``center_index`` next (slices already done are not redone)."""
        with self._lock:
            pending = set(self._pending)
            self._pending = [i for i in outward_order(center_index, self.n) if i in pending]
            self._urgent = True

    def cam_next(self, index: int) -> bool:
        """Score slice ``index`` next, with its CAMs from the same forward pass. A slice in
        the cache comes from the cache, without CAMs (its CAMs then need a pass of their
        own; the cached scores are not replaced). False when it is no longer pending."""
        with self._lock:
            if index not in self._pending:
                return False
            pending = set(self._pending)
            self._pending = [i for i in outward_order(index, self.n) if i in pending]
            self._urgent = True
            self._cam_index = index
            return True

    def cancel(self) -> None:
        """Stop after the batch in flight; its results and all later ones are dropped."""
        self._cancel.set()
        with self._lock:
            self._pending = []

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- work -------------------------------------------------------------------------------
    def _take(self) -> tuple[list[int], bool]:
        """The next batch, and whether it is the slice whose CAMs are wanted."""
        with self._lock:
            size = 1 if self._urgent else self.predictor.batch_size
            self._urgent = False
            batch, self._pending = self._pending[:size], self._pending[size:]
            cam = size == 1 and bool(batch) and batch[0] == self._cam_index
            if cam:
                self._cam_index = None
            return batch, cam or self.want_cam

    def _emit(
        self,
        i: int,
        result: SliceResult,
        on_result: OnResult | None,
        on_progress: OnProgress | None,
    ) -> None:
        if self._cancel.is_set():
            return
        with self._lock:
            self.results[i] = result
            self._done.add(i)
            n_done = len(self._done)
        if on_result is not None:
            on_result(i, result)
        if on_progress is not None:
            on_progress(n_done, self.n)

    def run(
        self, on_result: OnResult | None = None, on_progress: OnProgress | None = None
    ) -> dict[int, SliceResult]:
        """Score until every slice is done or the job is cancelled; returns index -> result.

        Callbacks run on the calling thread, in the order results are ready.
        """
        try:
            while not self._cancel.is_set():
                batch, want_cam = self._take()
                if not batch:
                    break
                todo: list[int] = []
                for i in batch:
                    cached = None
                    if self.cache is not None and not self.want_cam:
                        cached = self.cache.get(self.uids[i])
                    if cached is not None:
                        self._emit(
                            i, SliceResult(cached, None, from_cache=True), on_result, on_progress
                        )
                    else:
                        todo.append(i)
                if todo and not self._cancel.is_set():
                    self._score(todo, want_cam, on_result, on_progress)
        finally:
            self._finished.set()
        return self.results

    def _score(
        self,
        todo: list[int],
        want_cam: bool,
        on_result: OnResult | None,
        on_progress: OnProgress | None,
    ) -> None:
        slices, idx = [], []
        for i in todo:
            try:
                slices.append(self._get(i))
                idx.append(i)
            except Exception as exc:  # a slice source may fail in many ways; one bad slice
                # must not stop the series, so it is recorded and skipped.
                self.failed[i] = str(exc)
                logger.warning("slice %d could not be read for scoring: %s", i, exc)
        if not slices or self._cancel.is_set():
            return
        results = self.predictor.predict(slices, want_cam=want_cam)
        for i, res in zip(idx, results, strict=True):
            if self.cache is not None:
                self.cache.put(self.uids[i], res.probabilities)
            self._emit(i, res, on_result, on_progress)

    def start(
        self,
        on_result: OnResult | None = None,
        on_progress: OnProgress | None = None,
        on_finished: Callable[[ScoringJob], None] | None = None,
    ) -> threading.Thread:
        """Run in a daemon thread; callbacks are called from that thread."""

        def target() -> None:
            try:
                self.run(on_result, on_progress)
            except Exception as exc:  # thread boundary: keep the error for the owner to show
                self.error = exc
                logger.exception("scoring job failed")
            finally:
                if on_finished is not None:
                    on_finished(self)

        self._thread = threading.Thread(target=target, name="ichviewer-scoring", daemon=True)
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has stopped (done or cancelled); False on timeout."""
        return self._finished.wait(timeout)
