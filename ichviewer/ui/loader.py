"""Runs study scans and series loads off the UI thread; one current request at a time.

Opening another study or series replaces the current request: its cancel event is set and
its request id is retired, so whatever it still reports is dropped here and never reaches
the window (napari's layer slicer does the same with its request ids).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Sequence
from typing import Any

from PySide6 import QtCore

from ichviewer.io import SeriesInfo
from ichviewer.ui.workers import (
    Job,
    JobError,
    ScanDone,
    ScanProgress,
    SeriesDone,
    SeriesOpened,
    SliceLoaded,
    load_job,
    scan_job,
)

logger = logging.getLogger("ichviewer.ui")


class StudyLoader(QtCore.QObject):
    """Scans paths and loads series in a private thread pool, reporting only current work."""

    progress = QtCore.Signal(str, int, int)  # text, value, maximum (0 = busy indicator)
    scanned = QtCore.Signal(object)  # ScanDone
    series_opened = QtCore.Signal(object)  # SeriesOpened
    slice_loaded = QtCore.Signal(object)  # SliceLoaded
    series_done = QtCore.Signal(object)  # SeriesDone
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()
    idle = QtCore.Signal()  # the current request ended (done, failed or cancelled)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QtCore.QThreadPool(self)
        self._pool.setMaxThreadCount(2)  # a replaced job may still be finishing a slice
        self._jobs: dict[int, Job] = {}
        # Finished jobs are kept a little longer: a worker thread may still be returning from
        # its last emit when `finished` is delivered here.
        self._retired: collections.deque[Job] = collections.deque(maxlen=8)
        self._current = 0
        self._last_id = 0
        self.stale_dropped = 0  # results of replaced requests that were dropped (diagnostics)

    @property
    def busy(self) -> bool:
        return self._current in self._jobs

    @property
    def current_request(self) -> int:
        return self._current

    def open_paths(self, paths: Sequence[str]) -> int:
        """Scan ``paths`` for series; replaces whatever is running."""
        job = self._new_job(scan_job, [str(p) for p in paths])
        self._start(job, self._on_scan_progress, self._on_scan_returned)
        self.progress.emit("Reading headers…", 0, 0)
        return job.request_id

    def load_series(self, series: SeriesInfo, start: int) -> int:
        """Decode ``series``, slice ``start`` first; replaces whatever is running."""
        job = self._new_job(load_job, series, start)
        self._start(job, self._on_load_progress, self._on_load_returned)
        self.progress.emit("Loading slices…", 0, series.n_slices)
        return job.request_id

    def cancel(self) -> None:
        """Stop the current request (the user pressed Cancel)."""
        if not self.busy:
            return
        self._retire_current()
        self.cancelled.emit()
        self.idle.emit()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel everything and wait for the threads (window closing)."""
        for job in self._jobs.values():
            job.cancel_event.set()
        self._current = -1
        self._pool.waitForDone(timeout_ms)

    # -- internals -----------------------------------------------------------------------

    def _new_job(self, fn: Callable[..., Any], *args: Any) -> Job:
        self._retire_current()
        self._last_id += 1
        self._current = self._last_id
        return Job(self._current, fn, *args)

    def _retire_current(self) -> None:
        job = self._jobs.get(self._current)
        if job is not None:
            job.cancel_event.set()
        self._last_id += 1
        self._current = self._last_id  # nothing runs under this id until the next request

    def _start(self, job: Job, on_progress: Callable, on_returned: Callable) -> None:
        s = job.signals
        s.progressed.connect(on_progress)
        s.returned.connect(on_returned)
        s.errored.connect(self._on_errored)
        s.cancelled.connect(self._on_cancelled)
        s.finished.connect(self._on_finished)
        self._jobs[job.request_id] = job
        self._pool.start(job.run)

    def _is_current(self, rid: int) -> bool:
        if rid == self._current:
            return True
        self.stale_dropped += 1
        return False

    def _on_scan_progress(self, rid: int, p: ScanProgress) -> None:
        if self._is_current(rid):
            self.progress.emit(f"Reading headers {p.done}/{p.total}", p.done, p.total)

    def _on_scan_returned(self, rid: int, done: ScanDone) -> None:
        if self._is_current(rid):
            self.scanned.emit(done)

    def _on_load_progress(self, rid: int, p: SeriesOpened | SliceLoaded) -> None:
        if not self._is_current(rid):
            return
        if isinstance(p, SeriesOpened):
            self.series_opened.emit(p)
        else:
            self.progress.emit(f"Loading slices {p.done}/{p.total}", p.done, p.total)
            self.slice_loaded.emit(p)

    def _on_load_returned(self, rid: int, done: SeriesDone) -> None:
        if self._is_current(rid):
            self.series_done.emit(done)

    def _on_errored(self, rid: int, err: JobError) -> None:
        if self._is_current(rid):
            self.failed.emit(err.message)

    def _on_cancelled(self, rid: int) -> None:
        if self._is_current(rid):
            self.cancelled.emit()

    def _on_finished(self, rid: int) -> None:
        job = self._jobs.pop(rid, None)
        if job is not None:
            self._retired.append(job)
        if rid == self._current:
            # Handlers of `returned` may have started a new request; only then are we busy.
            self.idle.emit()
