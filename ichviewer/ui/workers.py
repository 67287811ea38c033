"""Background work for the viewer: scanning a study and decoding a series.

Workers take plain data (paths, a SeriesInfo), report progress as dataclasses and return
dataclasses; they never touch widgets. Every job carries the request id it was started
for, so :class:`ichviewer.ui.runner.RequestRunner` can drop results of a request that has
since been replaced. Signal names follow superqt: started, progressed, returned, errored,
finished.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore

from ichviewer.core.rules import outward_order
from ichviewer.errors import CancelledError
from ichviewer.io import ScanResult, SeriesInfo, SeriesReader, scan

logger = logging.getLogger("ichviewer.ui")

Report = Callable[[Any], None]


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int


@dataclass(frozen=True)
class ScanDone:
    paths: list[str]
    result: ScanResult


@dataclass(frozen=True)
class SeriesOpened:
    """The (still empty) volume is allocated; slices land in it as they are decoded."""

    reader: SeriesReader
    order: list[int]


@dataclass(frozen=True)
class SliceLoaded:
    index: int
    done: int
    total: int


@dataclass(frozen=True)
class SeriesDone:
    reader: SeriesReader


@dataclass(frozen=True)
class JobError:
    """What went wrong, in one line for the user, plus the traceback for the log."""

    message: str
    details: str


def scan_job(paths: list[str], report: Report, cancel: threading.Event) -> ScanDone:
    """Headers of every file under ``paths``."""
    result = scan(paths, progress=lambda d, t: report(ScanProgress(d, t)), cancel=cancel)
    return ScanDone(list(paths), result)


def load_job(series: SeriesInfo, start: int, report: Report, cancel: threading.Event) -> SeriesDone:
    """Decode a series, the slice at ``start`` first, reporting each slice as it lands."""
    reader = SeriesReader(series)
    order = outward_order(start, series.n_slices)
    report(SeriesOpened(reader, order))
    n = series.n_slices
    reader.load_all(
        order=order, on_slice=lambda i, done: report(SliceLoaded(i, done, n)), cancel=cancel
    )
    return SeriesDone(reader)


class WorkerSignals(QtCore.QObject):
    """Signals of one job; each carries the job's request id first."""

    started = QtCore.Signal(int)
    progressed = QtCore.Signal(int, object)
    returned = QtCore.Signal(int, object)
    errored = QtCore.Signal(int, object)
    cancelled = QtCore.Signal(int)
    finished = QtCore.Signal(int)


class Job:
    """Runs ``fn(*args, report, cancel)`` on a thread pool and reports through signals.

    A plain object whose :meth:`run` is handed to ``QThreadPool.start``: no QRunnable whose
    C++ lifetime would have to be matched with the Python one.
    """

    def __init__(
        self,
        request_id: int,
        fn: Callable[..., Any],
        *args: Any,
        cancel: threading.Event | None = None,
    ) -> None:
        self.request_id = request_id
        self.cancel_event = cancel or threading.Event()
        self.signals = WorkerSignals()
        self._fn = fn
        self._args = args

    def run(self) -> None:
        rid, sig = self.request_id, self.signals

        def emit(signal_name: str, *args: Any) -> None:
            # At application exit the signals' C++ object can go before a job that was
            # still running ends ("Signal source has been deleted"): nobody is listening
            # any more, so the result is dropped quietly instead of raising in the thread.
            try:
                getattr(sig, signal_name).emit(*args)
            except RuntimeError:
                self.cancel_event.set()

        emit("started", rid)
        try:
            result = self._fn(*self._args, lambda p: emit("progressed", rid, p), self.cancel_event)
        except CancelledError:
            emit("cancelled", rid)
        # A thread boundary: anything a decoder or a broken file throws must reach the
        # user as a message, never kill the worker thread silently.
        except Exception as exc:
            logger.exception("background job %d failed", rid)
            emit("errored", rid, JobError(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        else:
            if self.cancel_event.is_set():
                emit("cancelled", rid)
            else:
                emit("returned", rid, result)
        finally:
            emit("finished", rid)
