"""Keep freed array memory in the process instead of handing it back to the kernel (glibc).

PyTorch and numpy on the CPU allocate and free arrays of a few megabytes on every layer and
every step. glibc serves a block above its mmap threshold (128 KiB at start, raised as it
sees such blocks freed) with a fresh ``mmap`` and unmaps it on ``free``, and it returns the
top of the heap to the kernel once more than twice that is free. Either way the next
allocation page-faults and zero-fills its memory again: on the 2-core Xeon the evaluation
of the bundled ensemble spent more time in the kernel than in the network.

:func:`keep_freed_memory` raises the mmap threshold to glibc's maximum (32 MiB) and keeps up
to 1 GiB of free heap for reuse. The results are the same bit for bit (only where memory
comes from changes); the process holds its peak working set instead of returning it. A no-op
where the C library is not glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
#: glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as the module says, once per process; True if it took effect."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (musl ignores the tuning)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD),
        )
    )
    return _done
