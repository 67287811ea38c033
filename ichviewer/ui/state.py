"""The viewer's state, without Qt: the series on screen, the slice index, the display, the
heatmap, the AI's flags and the reader's marks. It emits an event when something changes;
the window's parts (:mod:`ichviewer.ui.parts`) follow those events and update their widgets
with the widgets' signals blocked (napari's ``_qt`` widgets following a layer's events).

No Qt here and nothing from ichviewer.ui (whose package imports Qt): a test loads this file
alone and checks that. The display is a :class:`ichviewer.ui.display.DisplayState` handed
in by the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ichviewer.core.triage import FlaggedSlice
    from ichviewer.io import SeriesReader
    from ichviewer.io.marks import StudyMarks
    from ichviewer.ui.display import DisplayState


class Event:
    """Callbacks run, in the order connected, on :meth:`emit` (a Qt-free signal)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for cb in list(self._callbacks):
            cb(*args)


class ViewerState:
    """What the window shows. Change it through the ``set_*`` methods, which emit.

    Events: ``closing`` (the series on screen is about to go: save what belongs to it),
    ``series`` (a series opened or closed), ``index`` (another slice, or the slice
    on screen got new content), ``display``, ``heatmap``, ``flags`` (the AI's flagged
    slices), ``flag_order`` (the reader chose another second-read order), ``marks``, ``message``
    (a text shown instead of an image: "Reading…", why nothing can be shown).
    """

    def __init__(self, display: DisplayState) -> None:
        self.reader: SeriesReader | None = None
        self.index = 0
        self.display = display
        self.demo = False
        self.heatmap_on = False
        self.flags: list[FlaggedSlice] = []
        #: "probability" (most suspicious first) or "position": the second-read order
        self.flag_order = "probability"
        self.marks: StudyMarks | None = None
        self.message = ""
        self.closing = Event()
        self.series = Event()
        self.index_changed = Event()
        self.display_changed = Event()
        self.heatmap = Event()
        self.flags_changed = Event()
        self.flag_order_changed = Event()
        self.marks_changed = Event()
        self.message_changed = Event()

    @property
    def n_slices(self) -> int:
        return self.reader.series.n_slices if self.reader is not None else 0

    def set_series(self, reader: SeriesReader | None, index: int | None = None) -> None:
        """Show ``reader`` (slice ``index``, the middle one when None), or nothing."""
        if self.reader is not None:
            self.closing.emit()
        self.reader = reader
        n = self.n_slices
        self.index = 0 if not n else min(max(n // 2 if index is None else int(index), 0), n - 1)
        self.flags = []
        self.marks = None
        self.message = ""
        self.series.emit()
        self.index_changed.emit()

    def set_index(self, index: int) -> None:
        """Show slice ``index`` (clamped); nothing happens without a series."""
        if self.reader is None:
            return
        self.index = min(max(int(index), 0), self.n_slices - 1)
        self.index_changed.emit()

    def refresh(self) -> None:
        """The slice on screen has new content (it was decoded, or failed to be)."""
        self.index_changed.emit()

    def set_display(self, display: DisplayState) -> None:
        self.display = display
        self.display_changed.emit()

    def set_heatmap(self, on: bool) -> None:
        self.heatmap_on = bool(on)
        self.heatmap.emit()

    def set_flags(self, flags: list[FlaggedSlice]) -> None:
        self.flags = list(flags)
        self.flags_changed.emit()

    def set_flag_order(self, order: str) -> None:
        self.flag_order = order
        self.flag_order_changed.emit()

    def set_marks(self, marks: StudyMarks | None) -> None:
        self.marks = marks
        self.marks_changed.emit()

    def set_message(self, text: str) -> None:
        self.message = text
        self.message_changed.emit()

    def flag_at(self, index: int) -> FlaggedSlice | None:
        return next((f for f in self.flags if f.index == index), None)
