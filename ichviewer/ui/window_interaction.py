"""The main window's cine playback and mouse window/level drag. A mixin so main_window.py
stays short; it uses MainWindow's attributes (display, settings, actions_, cine_timer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore

from ichviewer.ui.display import drag_window
from ichviewer.ui.window_loading import STATUS_MS

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow


class InteractionMixin:
    """Slots for the W/L drag signals of the image view, and the cine timer."""

    # -- window / level drag -------------------------------------------------------------

    def _on_wl_drag_started(self: MainWindow) -> None:
        if self.display.is_rgb:
            self._wl_start = None
            self.statusBar().showMessage(
                "The RGB composite has fixed windows; press 1, 2 or 3 "
                "for a grey window you can drag",
                STATUS_MS,
            )
            return
        self._wl_start = self.display.window

    def _on_wl_dragged(self: MainWindow, dx: float, dy: float) -> None:
        if self._wl_start is not None:
            self.set_window(*drag_window(self._wl_start, dx, dy))

    def _on_wl_drag_finished(self: MainWindow) -> None:
        if self._wl_start is not None:
            self.statusBar().showMessage(f"Window {self.display.describe()}", STATUS_MS)
        self._wl_start = None

    # -- cine ----------------------------------------------------------------------------

    def set_cine(self: MainWindow, on: bool) -> None:
        on = bool(on) and self.reader is not None
        if on:
            self.cine_timer.start(max(1, round(1000 / self.settings.cine_fps)))
        else:
            self.cine_timer.stop()
        with QtCore.QSignalBlocker(self.actions_.play):
            self.actions_.play.setChecked(on)
            self.actions_.play.setText("Pause (Space)" if on else "Play (Space)")

    def toggle_cine(self: MainWindow) -> None:
        self.set_cine(not self.cine_timer.isActive())

    def set_cine_fps(self: MainWindow, fps: int) -> None:
        self.settings.cine_fps = int(fps)
        if self.cine_timer.isActive():
            self.cine_timer.setInterval(max(1, round(1000 / fps)))

    def _on_cine_tick(self: MainWindow) -> None:
        if self.reader is None:
            self.set_cine(False)
            return
        self.set_slice((self._index + 1) % self.n_slices)
