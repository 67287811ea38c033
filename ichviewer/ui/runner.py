"""One request runner for all background work of the window: loading, scoring, CAMs, the
worklist.

Each request runs a worker function (:class:`ichviewer.ui.workers.Job`) on a thread pool
and carries an id. Requests are grouped in lanes ("scan", "score", "cam", ...); submitting
to a lane replaces (cancels) the lane's current request, and whatever a replaced request
still reports is dropped here, counted in :attr:`RequestRunner.stale_dropped`, and never
reaches its callbacks (napari's layer slicer does the same with its request ids). Tests
wait with :meth:`RequestRunner.wait_until_idle` instead of sleeping.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore

from ichviewer.ui.workers import Job

Callback = Callable[..., Any] | None


@dataclass
class _Request:
    lane: str
    job: Job
    on_progress: Callback
    on_returned: Callback
    on_errored: Callback
    on_cancelled: Callback
    on_finished: Callback


class RequestRunner(QtCore.QObject):
    """Runs requests off the UI thread; only each lane's current request is heard.

    ``pool``: a thread pool to share (e.g. the global one, which a closing window does not
    wait for); by default a private one of ``max_threads`` threads.
    """

    idle = QtCore.Signal()  # no request is in flight any more

    def __init__(
        self,
        parent: QtCore.QObject | None = None,
        max_threads: int = 2,
        *,
        pool: QtCore.QThreadPool | None = None,
    ) -> None:
        super().__init__(parent)
        self._own_pool = pool is None
        if pool is None:
            pool = QtCore.QThreadPool(self)
            pool.setMaxThreadCount(max_threads)
        self._pool = pool
        self._requests: dict[int, _Request] = {}
        # Finished jobs are kept a little longer: a worker thread may still be returning
        # from its last emit when `finished` is delivered here.
        self._retired: collections.deque[Job] = collections.deque(maxlen=16)
        self._current: dict[str, int] = {}
        self._last_id = 0
        self.stale_dropped = 0  # reports of replaced requests that were dropped

    # -- requests ----------------------------------------------------------------------------

    def submit(
        self,
        lane: str,
        fn: Callable[..., Any],
        *args: Any,
        on_progress: Callback = None,
        on_returned: Callback = None,
        on_errored: Callback = None,
        on_cancelled: Callback = None,
        on_finished: Callback = None,
    ) -> int:
        """Run ``fn(*args, report, cancel)`` as the lane's current request (the previous
        one is cancelled). Callbacks get the payload only (no id), and only while the
        request is current; ``on_finished`` gets nothing. Returns the request id."""
        self.cancel(lane)
        rid = self._next_id()
        self._current[lane] = rid
        job = Job(rid, fn, *args)
        self._requests[rid] = _Request(
            lane, job, on_progress, on_returned, on_errored, on_cancelled, on_finished
        )
        s = job.signals
        s.progressed.connect(self._on_progressed)
        s.returned.connect(self._on_returned)
        s.errored.connect(self._on_errored)
        s.cancelled.connect(self._on_cancelled)
        s.finished.connect(self._on_finished)
        self._pool.start(job.run)
        return rid

    def is_current(self, rid: int) -> bool:
        """True while request ``rid`` is its lane's current one."""
        req = self._requests.get(rid)
        lane = req.lane if req is not None else None
        return lane is not None and self._current.get(lane) == rid

    def busy(self, lane: str | None = None) -> bool:
        """A request of ``lane`` (any lane when None) is current and still running."""
        if lane is None:
            return any(self.is_current(rid) for rid in self._requests)
        rid = self._current.get(lane)
        return rid is not None and rid in self._requests

    def cancel(self, lane: str | None = None) -> None:
        """Cancel the current request of ``lane`` (of every lane when None); what it still
        reports is dropped."""
        lanes = list(self._current) if lane is None else [lane]
        for ln in lanes:
            req = self._requests.get(self._current.get(ln, -1))
            if req is not None:
                req.job.cancel_event.set()
            self._current[ln] = self._next_id()  # nothing runs under this id

    def in_flight(self) -> int:
        """Requests whose thread has not finished (current or replaced)."""
        return len(self._requests)

    def wait_until_idle(self, timeout_ms: int = 10_000) -> bool:
        """Process events until no request is in flight (replaced ones included) and their
        last reports were delivered; False on timeout. For tests and --screenshot."""
        deadline = time.monotonic() + timeout_ms / 1000
        app = QtCore.QCoreApplication.instance()
        while self._requests and time.monotonic() < deadline:
            loop = QtCore.QEventLoop()
            QtCore.QTimer.singleShot(5, loop.quit)
            loop.exec()
        if app is not None:
            app.processEvents()
        return not self._requests

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel everything and wait for the threads of a private pool (window closing)."""
        for req in self._requests.values():
            req.job.cancel_event.set()
        self.cancel()
        if self._own_pool:
            self._pool.waitForDone(timeout_ms)

    # -- internals ---------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def _heard(self, rid: int, name: str) -> Callback:
        """The request's callback ``name`` when it is current, else None (counted stale)."""
        if not self.is_current(rid):
            self.stale_dropped += 1
            return None
        return getattr(self._requests[rid], name)

    def _on_progressed(self, rid: int, payload: object) -> None:
        if (cb := self._heard(rid, "on_progress")) is not None:
            cb(payload)

    def _on_returned(self, rid: int, payload: object) -> None:
        if (cb := self._heard(rid, "on_returned")) is not None:
            cb(payload)

    def _on_errored(self, rid: int, payload: object) -> None:
        if (cb := self._heard(rid, "on_errored")) is not None:
            cb(payload)

    def _on_cancelled(self, rid: int) -> None:
        if (cb := self._heard(rid, "on_cancelled")) is not None:
            cb()

    def _on_finished(self, rid: int) -> None:
        current = self.is_current(rid)
        req = self._requests.pop(rid, None)
        if req is None:
            return
        self._retired.append(req.job)
        if current and req.on_finished is not None:
            req.on_finished()
        if not self._requests:
            self.idle.emit()
