"""The Qt user interface (PySide6 + pyqtgraph). Nothing outside ichviewer.ui and
ichviewer.app imports Qt.

Importing this package applies the binding work-arounds of :mod:`ichviewer.ui.qt_compat`
first, before any widget exists.
"""

from __future__ import annotations

from ichviewer.ui.qt_compat import install_singleton_refcount_fix

install_singleton_refcount_fix()
