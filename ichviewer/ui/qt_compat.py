"""Work-around for a defect of the Qt binding that the viewer cannot live with.

The PySide6 6.12 wheels are built for the stable ABI with the headers of a Python in which
``None``, ``True`` and ``False`` are immortal (3.12+), where ``Py_RETURN_NONE`` and friends
no longer take a reference. Run on CPython 3.11 every call of a void Qt method
(``label.move``, ``widget.update``, ``timer.start``, ...) and every ``Signal.emit`` gives
away a reference it never took. Measured here: 100 calls of ``QLabel.move`` drop
``sys.getrefcount(None)`` by 100; 100 emits drop ``True`` by 100. After a few thousand
calls -- seconds of scrolling -- the count reaches zero and the interpreter aborts with
"none_dealloc: deallocating None" or "bool_dealloc".

Those objects are statically allocated and never freed, so the fix gives them what 3.12
gives them: a reference count so large that the lost references can never bring it to
zero. The fix is probed, not assumed: it is applied only on CPython < 3.12 and only when a
probe shows the binding losing references. Upgrading to Python 3.12+ makes it a no-op.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6 import QtCore

logger = logging.getLogger("ichviewer.ui")

#: Added to the reference counts: 2**40 lost references is ~35 years at 1000 per second.
CUSHION = 1 << 40
_SINGLETONS = (None, True, False)
_installed = False


def binding_leaks_singletons() -> bool:
    """True when void Qt calls or emits drop references to None / True (probe of 64 calls)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False

    class _Probe(QtCore.QObject):
        ping = QtCore.Signal()

    probe = _Probe()
    n = 64
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(n):
        probe.setObjectName("probe")  # a void method
        probe.ping.emit()  # returns True
    none_lost = none_before - sys.getrefcount(None)
    true_lost = true_before - sys.getrefcount(True)
    return none_lost >= n // 2 or true_lost >= n // 2


def _add_references(obj: object, count: int) -> None:
    # ob_refcnt is the first field of every PyObject (a Py_ssize_t) in CPython 3.11.
    refcnt = ctypes.c_ssize_t.from_address(id(obj))
    refcnt.value += count


def fix_installed() -> bool:
    return _installed


def install_singleton_refcount_fix() -> bool:
    """Make None, True and False effectively immortal where the binding leaks them.

    Returns whether the fix is in place (idempotent)."""
    global _installed
    if _installed:
        return True
    if not binding_leaks_singletons():
        return False
    for obj in _SINGLETONS:
        _add_references(obj, CUSHION)
    _installed = True
    logger.debug(
        "PySide6 %s on Python %s drops references to None/True/False; cushioned",
        QtCore.qVersion(),
        sys.version.split()[0],
    )
    return True
