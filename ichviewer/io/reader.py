"""Lazy, parallel decoding of a sorted series into a float32 HU volume."""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from ichviewer.core.constants import AIR_HU
from ichviewer.errors import CancelledError, DicomReadError, SeriesError
from ichviewer.io import decode_pool, fast_codecs
from ichviewer.io.model import FileError, SeriesInfo, SliceRef
from ichviewer.io.pixels import decode_hu, to_hu
from ichviewer.io.sources import display_name

logger = logging.getLogger("ichviewer.io")

#: Refuse to allocate a series volume larger than this many voxels (4 GiB of float32).
MAX_SERIES_VOXELS = 2**30

STRATEGIES = ("auto", "serial", "threads", "processes")

#: Compressed syntaxes not sent to worker processes: "threads" where the decoder releases
#: the GIL, "serial" where a slice decodes faster than a process can hand it back (RLE with
#: pylibjpeg-rle: about 1.5 ms per 512 x 512 slice; in processes a 240-slice series loaded at
#: 0.80x the naive loop). The syntaxes imagecodecs takes go to threads
#: (THREADS_WITH_FAST_CODEC); every other compressed syntax goes to worker processes. Measured
#: by tests/bench/bench_io.py (see README, Performance).
STRATEGY_BY_SYNTAX: dict[str, str] = {"1.2.840.10008.1.2.5": "serial"}

#: Syntaxes decoded in threads when imagecodecs takes them: its libjpeg-turbo, CharLS and
#: openjpeg release the GIL, and threads need no pickling and no pipe. Measured on real 512 x
#: 512 slices (tests/bench/bench_io.py --strategies, idle machine): cq500_ct0 (lossless JPEG)
#: threads 3.26-3.43x the naive loop against 2.18-2.35x in processes; JPEG-LS 2.82x against
#: 2.23x; JPEG 2000 1.78x against 1.71x.
THREADS_WITH_FAST_CODEC = frozenset({"jpeg8", "jpegls", "jpeg2k"})


def _syntax_strategy(transfer_syntax: str) -> str:
    if transfer_syntax in STRATEGY_BY_SYNTAX:
        return STRATEGY_BY_SYNTAX[transfer_syntax]
    codec = fast_codecs.CODEC_BY_SYNTAX.get(transfer_syntax)
    if codec in THREADS_WITH_FAST_CODEC and fast_codecs.available(transfer_syntax):
        return "threads"
    return "processes"


#: Slices per task sent to a worker process: few enough that the slices next to the one on
#: screen land first, enough to amortise the round trip.
CHUNK = 4


def default_workers() -> int:
    """Decoder threads: all cores but one (the UI thread keeps one), at least 1, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1)) if (os.cpu_count() or 1) > 2 else 2


class SeriesReader:
    """Decodes slices of one series on demand and keeps them (N, H, W) float32 HU.

    Slices that fail to decode are filled with air and listed in :attr:`errors`; the rest of
    the series stays usable. Thread-safe: several workers may call :meth:`slice`.
    """

    def __init__(self, series: SeriesInfo) -> None:
        n, h, w = series.n_slices, series.rows, series.columns
        if n == 0:
            raise SeriesError(f"series {series.description!r} has no slices")
        if n * h * w > MAX_SERIES_VOXELS:
            raise SeriesError(
                f"series {series.description!r} is {n} x {h} x {w} voxels, more than the "
                f"limit of {MAX_SERIES_VOXELS}"
            )
        self.series = series
        # zeros is lazily allocated by the OS: opening a study costs nothing up front.
        self.volume = np.zeros((n, h, w), dtype=np.float32)
        self.loaded = np.zeros(n, dtype=bool)
        self.failed = np.zeros(n, dtype=bool)
        self.errors: list[FileError] = []
        self._locks = [threading.Lock() for _ in range(n)]
        self._errors_lock = threading.Lock()

    def __len__(self) -> int:
        return self.series.n_slices

    def slice(self, i: int) -> np.ndarray:
        """HU of slice ``i`` (decoded the first time it is asked for)."""
        if not self.loaded[i]:
            with self._locks[i]:
                if not self.loaded[i]:
                    self._decode(i)
        return self.volume[i]

    def _decode(self, i: int) -> None:
        ref = self.series.slices[i]
        try:
            self._check_shape(ref)
            decode_hu(ref, out=self.volume[i])
        except DicomReadError as exc:
            self._record_failure(i, exc.file, exc.reason)
        self.loaded[i] = True

    def _check_shape(self, ref: SliceRef) -> None:
        if (ref.rows, ref.columns) != self.volume.shape[1:]:
            raise DicomReadError(
                display_name(ref.source),
                f"slice is {ref.rows} x {ref.columns}, series is "
                f"{self.volume.shape[1]} x {self.volume.shape[2]}",
            )

    def _record_failure(self, i: int, file: str, reason: str) -> None:
        self.volume[i] = AIR_HU
        self.failed[i] = True
        with self._errors_lock:
            self.errors.append(FileError(file, reason))
        logger.warning("slice %d of series could not be decoded: %s", i, reason)

    def _store(self, item: decode_pool.Decoded) -> None:
        """Keep one slice decoded by a worker process (unless another thread got there first)."""
        i, stored, file, reason = item
        with self._locks[i]:
            if self.loaded[i]:
                return
            if stored is None:
                self._record_failure(i, file, reason)
            else:
                ref = self.series.slices[i]
                to_hu(
                    stored,
                    ref.slope,
                    ref.intercept,
                    bits_stored=ref.bits_stored,
                    signed=ref.signed,
                    out=self.volume[i],
                )
            self.loaded[i] = True

    def strategy(self, indices: Sequence[int] | None = None) -> str:
        """How :meth:`load_all` decodes these slices: "serial" (uncompressed: a read and a cast,
        where any parallelism only adds overhead), "threads" (every slice's decoder releases the
        GIL) or "processes" (a decoder that holds the GIL is involved)."""
        idx = range(len(self)) if indices is None else indices
        syntaxes = {self.series.slices[i].transfer_syntax for i in idx if not self._native(i)}
        if not syntaxes:
            return "serial"
        chosen = {_syntax_strategy(ts) for ts in syntaxes}
        if chosen == {"serial"}:
            return "serial"
        return "threads" if chosen <= {"threads", "serial"} else "processes"

    def _native(self, i: int) -> bool:
        return self.series.slices[i].layout is not None

    def load_all(
        self,
        order: Sequence[int] | None = None,
        *,
        workers: int | None = None,
        on_slice: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        strategy: str = "auto",
    ) -> np.ndarray:
        """Decode every slice, streaming: ``order[0]`` (the slice on screen) first, in this
        thread, before any worker is involved; the rest in ``order``, in parallel.

        ``on_slice(index, n_done)`` is called (from this thread, or from decoder threads with
        the "threads" strategy) as each slice lands, the first one first. ``strategy`` is
        "auto" (:meth:`strategy`), "serial", "threads" (``workers`` threads) or "processes"
        (the shared pool of :mod:`ichviewer.io.decode_pool`; falls back to threads when no
        process can be started). Slices that fail are air, listed in :attr:`errors`.
        """
        todo = [i for i in (order if order is not None else range(len(self))) if not self.loaded[i]]
        done = int(self.loaded.sum())
        progress = _Progress(done, on_slice, cancel)
        if not todo:
            return self.volume
        first, rest = todo[0], todo[1:]
        progress.check()
        self.slice(first)
        progress.landed(first)
        if not rest:
            return self.volume
        if strategy == "auto":
            strategy = self.strategy(rest)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if strategy == "processes":
            rest = self._load_processes(rest, progress)
            strategy = "threads"  # whatever the pool could not do (it could not start)
        nworkers = workers or default_workers()
        if strategy == "serial" or nworkers <= 1 or len(rest) <= 1:
            for i in rest:
                progress.check()
                self.slice(i)
                progress.landed(i)
            return self.volume
        with ThreadPoolExecutor(max_workers=nworkers) as pool:
            futures = {pool.submit(self.slice, i): i for i in rest}
            for fut in as_completed(futures):
                if cancel is not None and cancel.is_set():
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise CancelledError("load cancelled")
                fut.result()
                progress.landed(futures[fut])
        return self.volume

    def _load_processes(self, todo: list[int], progress: _Progress) -> list[int]:
        """Decode ``todo`` in worker processes; returns the slices left for in-process decoding
        (all of them when no worker process can be started)."""
        # Slices the pool cannot help with: uncompressed ones and ones refused by their shape.
        local = [i for i in todo if self._native(i) or self._shape_mismatch(i)]
        remote = [i for i in todo if not (self._native(i) or self._shape_mismatch(i))]
        for i in local:
            progress.check()
            self.slice(i)
            progress.landed(i)
        try:
            suspects = self._run_chunks(remote, progress, CHUNK)
        except decode_pool.PoolBroken as exc:
            logger.warning("no decoder processes (%s): decoding in threads", exc)
            return [i for i in remote if not self.loaded[i]]
        # A worker died (a decoder crash or the OS killing it). Retry the slices it may have
        # been holding one at a time, so the one that kills a worker is found and refused
        # while the others still load.
        for i in suspects:
            if self.loaded[i]:
                continue
            try:
                if self._run_chunks([i], progress, 1):
                    ref = self.series.slices[i]
                    with self._locks[i]:
                        if not self.loaded[i]:
                            self._record_failure(
                                i,
                                display_name(ref.source),
                                "the pixel decoder crashed on this file (its worker process died)",
                            )
                            self.loaded[i] = True
                    progress.landed(i)
            except decode_pool.PoolBroken:
                return [j for j in suspects if not self.loaded[j]]
        return []

    def _shape_mismatch(self, i: int) -> bool:
        ref = self.series.slices[i]
        return (ref.rows, ref.columns) != self.volume.shape[1:]

    def _run_chunks(self, todo: list[int], progress: _Progress, chunk: int) -> list[int]:
        """Decode ``todo`` in chunks on the pool, in order (the pool is FIFO), with at most
        two chunks per worker in flight: decoded slices never pile up in memory, a cancel
        leaves little queued, and other readers sharing the pool get their turn. Returns the
        slices not decoded because a worker died (empty when all went well)."""
        if not todo:
            return []
        slices = self.series.slices
        queue = deque(todo[k : k + chunk] for k in range(0, len(todo), chunk))
        window = 2 * max(1, decode_pool.pool_workers())
        running: set[Future] = set()
        try:
            while queue or running:
                while queue and len(running) < window:
                    running.add(decode_pool.submit([(i, slices[i]) for i in queue.popleft()]))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                if progress.cancelled():
                    for f in running:
                        f.cancel()
                    raise CancelledError("load cancelled")
                for fut in finished:
                    for item in fut.result():
                        self._store(item)
                        progress.landed(item[0])
        except BrokenProcessPool:
            decode_pool.reset()
            return [i for i in todo if not self.loaded[i]]
        return []


class _Progress:
    """Counts slices as they land, calls ``on_slice``, and checks for cancellation."""

    def __init__(
        self,
        done: int,
        on_slice: Callable[[int, int], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        self.done, self.on_slice, self.cancel = done, on_slice, cancel
        self._lock = threading.Lock()

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def check(self) -> None:
        if self.cancelled():
            raise CancelledError("load cancelled")

    def landed(self, i: int) -> None:
        with self._lock:
            self.done += 1
            done = self.done
        if self.on_slice:
            self.on_slice(i, done)
