"""ichviewer.core.heap: freed arrays stay in the process for the next one (glibc)."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

_GLIBC = sys.platform.startswith("linux") and hasattr(
    ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2"
)

# A child process allocates an 8 MiB array, frees it and allocates another, and prints how
# many bytes of each it got from fresh mmaps (glibc's mallinfo2().hblkhd).
_CHILD = """
import ctypes, ctypes.util, sys
import numpy as np
from ichviewer.core import heap
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert heap.keep_freed_memory()
base = libc.mallinfo2().hblkhd
a = np.ones(8 << 20, np.uint8)
first = libc.mallinfo2().hblkhd - base
del a
b = np.ones(8 << 20, np.uint8)
print(first, libc.mallinfo2().hblkhd - base)
"""


def _mmapped(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True
    )
    first, second = map(int, out.stdout.split())
    return first, second


@pytest.mark.skipif(not _GLIBC, reason="glibc's malloc only")
def test_a_freed_8_mib_array_is_reused_instead_of_mapped_again():
    first, _ = _mmapped("default")
    assert first >= 8 << 20  # glibc's default: a fresh mmap, unmapped on free
    assert _mmapped("tuned") == (0, 0)  # tuned: both from the heap, the second reusing


def test_it_is_a_no_op_answering_false_off_glibc(monkeypatch):
    from ichviewer.core import heap

    monkeypatch.setattr(heap, "_done", None)
    monkeypatch.setattr(heap.sys, "platform", "win32")
    assert heap.keep_freed_memory() is False
