"""Runs study scans and series loads off the UI thread; one current request at a time.

Opening another study or series replaces the current request (the runner cancels it and
drops whatever it still reports), so nothing of a replaced load reaches the window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6 import QtCore

from ichviewer.io import SeriesInfo
from ichviewer.ui.runner import RequestRunner
from ichviewer.ui.workers import (
    JobError,
    ScanDone,
    ScanProgress,
    SeriesOpened,
    SliceLoaded,
    load_job,
    scan_job,
)

logger = logging.getLogger("ichviewer.ui")
LANE = "study"


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
        # Two threads: a replaced job may still be finishing a slice.
        self.runner = RequestRunner(self, max_threads=2)

    @property
    def busy(self) -> bool:
        return self.runner.busy(LANE)

    @property
    def stale_dropped(self) -> int:
        """Reports of replaced requests that were dropped (diagnostics)."""
        return self.runner.stale_dropped

    def open_paths(self, paths: Sequence[str]) -> int:
        """Scan ``paths`` for series; replaces whatever is running."""
        rid = self._submit(scan_job, [str(p) for p in paths], progress=self._on_scan_progress)
        self.progress.emit("Reading headers…", 0, 0)
        return rid

    def load_series(self, series: SeriesInfo, start: int) -> int:
        """Decode ``series``, slice ``start`` first; replaces whatever is running."""
        rid = self._submit(load_job, series, start, progress=self._on_load_progress)
        self.progress.emit("Loading slices…", 0, series.n_slices)
        return rid

    def cancel(self) -> None:
        """Stop the current request (the user pressed Cancel)."""
        if not self.busy:
            return
        self.runner.cancel(LANE)
        self.cancelled.emit()
        self.idle.emit()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel everything and wait for the threads (window closing)."""
        self.runner.shutdown(timeout_ms)

    # -- internals -----------------------------------------------------------------------

    def _submit(self, fn, *args, progress) -> int:  # noqa: ANN001
        return self.runner.submit(
            LANE,
            fn,
            *args,
            on_progress=progress,
            on_returned=self._on_returned,
            on_errored=self._on_errored,
            on_cancelled=self.cancelled.emit,
            on_finished=self.idle.emit,  # only when no handler started a new request
        )

    def _on_scan_progress(self, p: ScanProgress) -> None:
        self.progress.emit(f"Reading headers {p.done}/{p.total}", p.done, p.total)

    def _on_load_progress(self, p: SeriesOpened | SliceLoaded) -> None:
        if isinstance(p, SeriesOpened):
            self.series_opened.emit(p)
        else:
            self.progress.emit(f"Loading slices {p.done}/{p.total}", p.done, p.total)
            self.slice_loaded.emit(p)

    def _on_returned(self, done: object) -> None:
        (self.scanned if isinstance(done, ScanDone) else self.series_done).emit(done)

    def _on_errored(self, err: JobError) -> None:
        self.failed.emit(err.message)
