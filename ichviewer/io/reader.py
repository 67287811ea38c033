"""Lazy, parallel decoding of a sorted series into a float32 HU volume."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np

from ichviewer.core.constants import AIR_HU
from ichviewer.errors import CancelledError, DicomReadError, SeriesError
from ichviewer.io.model import FileError, SeriesInfo
from ichviewer.io.pixels import decode_hu
from ichviewer.io.sources import display_name

logger = logging.getLogger("ichviewer.io")

#: Refuse to allocate a series volume larger than this many voxels (4 GiB of float32).
MAX_SERIES_VOXELS = 2**30


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
            if (ref.rows, ref.columns) != self.volume.shape[1:]:
                raise DicomReadError(
                    display_name(ref.source),
                    f"slice is {ref.rows} x {ref.columns}, series is "
                    f"{self.volume.shape[1]} x {self.volume.shape[2]}",
                )
            decode_hu(ref, out=self.volume[i])
        except DicomReadError as exc:
            self.volume[i] = AIR_HU
            self.failed[i] = True
            with self._errors_lock:
                self.errors.append(FileError(exc.file, exc.reason))
            logger.warning("slice %d of series could not be decoded: %s", i, exc.reason)
        self.loaded[i] = True

    def load_all(
        self,
        order: Sequence[int] | None = None,
        *,
        workers: int | None = None,
        on_slice: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        """Decode every slice (in ``order``, e.g. the slice on screen first), in parallel.

        ``on_slice(index, n_done)`` is called from worker threads as each slice lands.
        """
        todo = [i for i in (order if order is not None else range(len(self))) if not self.loaded[i]]
        done = int(self.loaded.sum())
        # Uncompressed slices are a read + a cast: threads only add GIL contention. Threads
        # pay off for compressed syntaxes, whose decoders release the GIL.
        compressed = any(self.series.slices[i].layout is None for i in todo)
        nworkers = workers or (default_workers() if compressed else 1)
        if nworkers <= 1 or len(todo) <= 1:
            for i in todo:
                if cancel is not None and cancel.is_set():
                    raise CancelledError("load cancelled")
                self.slice(i)
                done += 1
                if on_slice:
                    on_slice(i, done)
            return self.volume
        with ThreadPoolExecutor(max_workers=nworkers) as pool:
            futures = {pool.submit(self.slice, i): i for i in todo}
            for fut in as_completed(futures):
                if cancel is not None and cancel.is_set():
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise CancelledError("load cancelled")
                fut.result()
                done += 1
                if on_slice:
                    on_slice(futures[fut], done)
        return self.volume
