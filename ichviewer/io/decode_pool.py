"""Worker processes that decode compressed slices in parallel.

The decoders pydicom uses for JPEG lossless (gdcm), JPEG 2000 (openjpeg, gdcm) and RLE hold
the GIL, so threads cannot decode two slices at once: worker processes can. They are started
lazily (the first compressed series), with the 'spawn' context (the app is a Qt app with
threads, where fork is unsafe; spawn also works inside a PyInstaller bundle, whose entry point
calls ``multiprocessing.freeze_support()``), and reused for every later series.

A worker only decodes: it returns each slice's *stored* values (e.g. 512 x 512 int16,
512 KiB). The parent converts them to HU with :func:`ichviewer.io.pixels.to_hu` straight
into the series volume, so there is one float32 volume in memory and one HU conversion.
Errors come back as (file, reason) pairs, never as exceptions (DicomReadError's two
arguments do not survive pickling). A worker that dies (a decoder crash) breaks the pool;
the caller gets :class:`PoolBroken` and :func:`reset` starts a fresh pool next time.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import numpy as np

from ichviewer.core.cpu import usable_cores
from ichviewer.errors import DicomReadError
from ichviewer.io.model import SliceRef

logger = logging.getLogger("ichviewer.io")

__all__ = [
    "PoolBroken",
    "decode_chunk",
    "get_pool",
    "pool_workers",
    "reset",
    "running",
    "submit",
    "submit_call",
]

#: Environment variable: the number of decoder processes (0 = decode in the app's process).
WORKERS_ENV = "ICHVIEWER_DECODE_PROCESSES"

#: One decoded slice, or why not: (index, stored values or None, file, reason).
Decoded = tuple[int, "np.ndarray | None", str, str]

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


class PoolBroken(RuntimeError):
    """A decoder process died (or could not start); the pool is unusable."""


def pool_workers() -> int:
    """Decoder processes: one per core this process may use (the parent mostly waits), at
    most 8; 0 (no pool: decode in-process) on a single core or when the environment says so."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            return max(0, min(32, int(env)))
        except ValueError:
            logger.warning("%s=%r is not a number; ignored", WORKERS_ENV, env)
    cores = usable_cores()
    return 0 if cores < 2 else min(8, cores)


def _init_worker() -> None:
    # Import the decoders once per process, not on the first slice.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import pydicom.pixels  # noqa: F401


def decode_chunk(items: list[tuple[int, SliceRef]]) -> list[Decoded]:
    """Runs in a worker: the stored values of each slice, or the reason it failed."""
    from ichviewer.io.pixels import decode_stored

    out: list[Decoded] = []
    for i, ref in items:
        try:
            out.append((i, decode_stored(ref), "", ""))
        except DicomReadError as exc:
            out.append((i, None, exc.file, exc.reason))
    return out


def get_pool() -> ProcessPoolExecutor | None:
    """The shared decoder pool (started on first use), or None when there is to be none."""
    global _pool
    with _lock:
        if _pool is None:
            n = pool_workers()
            if n == 0:
                return None
            ctx = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker)
            logger.info("decoder pool: %d worker processes (spawn)", n)
        return _pool


def submit(items: list[tuple[int, SliceRef]]) -> Future[list[Decoded]]:
    """Queue one chunk of slices on the shared pool (FIFO: submit the slice on screen first)."""
    return submit_call(decode_chunk, items)


def submit_call(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Queue any picklable top-level function on the shared pool (e.g. reading headers)."""
    pool = get_pool()
    if pool is None:
        raise PoolBroken("no decoder processes")
    try:
        return pool.submit(fn, *args)
    except (BrokenProcessPool, RuntimeError, OSError) as exc:
        reset()
        raise PoolBroken(str(exc)) from exc


def running() -> bool:
    """Whether the worker processes have been started (nothing is started by asking)."""
    return _pool is not None


def reset() -> None:
    """Forget the pool (after a worker died); the next :func:`get_pool` starts a fresh one."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def warm_up() -> None:
    """Start the worker processes now (e.g. while headers are being scanned), so the first
    compressed series does not wait for their interpreter start and imports."""
    pool = get_pool()
    if pool is not None:
        try:
            for _ in range(pool_workers()):
                pool.submit(_init_worker)
        except (BrokenProcessPool, RuntimeError, OSError):
            reset()
