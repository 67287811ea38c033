"""File > Open worklist: a dock listing the studies of a folder, scored in the background
one at a time (:class:`ichviewer.ui.worklist.WorklistPanel`); double-click opens one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.parts.common import LEFT, StatusBar, make_dock
from ichviewer.ui.worklist import WorklistPanel


class WorklistPart:
    """Owns the worklist panel and its dock; ``open_paths`` opens a study in the window."""

    def __init__(
        self,
        win: QtWidgets.QMainWindow,
        ai: AIController,
        open_paths: Callable[[Sequence[str]], None],
    ) -> None:
        self.win = win
        self.status = StatusBar(win)
        self.panel = WorklistPanel(ai)
        self.dock = make_dock(win, "Worklist", "worklist_dock", self.panel, LEFT)
        self.dock.hide()
        self.panel.open_requested.connect(lambda p: open_paths([p]))

    def choose(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(
            self.win, "Open a worklist (a folder whose subfolders or zips are studies)"
        )
        if d:
            self.open(d)

    def add_received(
        self,
        path: str,
        report: dict | None = None,
        *,
        hide: Sequence[QtWidgets.QDockWidget] = (),
    ) -> None:
        """A received study (queued until ``report``, its ai-report.json, comes); ``hide``:
        docks to hide to give the worklist room when it first shows."""
        if not self.dock.isVisible():
            for dock in hide:
                dock.hide()
            self.dock.show()
            self.dock.raise_()
            self.win.resizeDocks([self.dock], [430], QtCore.Qt.Orientation.Horizontal)
        self.panel.add_received(path, report)

    def open(self, folder: str | Path, *, hide: Sequence[QtWidgets.QDockWidget] = ()) -> int:
        """List the studies of ``folder`` and score them one by one in the background;
        ``hide``: docks to hide to give the worklist room."""
        for dock in hide:
            dock.hide()
        self.dock.show()
        self.dock.raise_()
        self.win.resizeDocks([self.dock], [430], QtCore.Qt.Orientation.Horizontal)
        n = self.panel.set_folder(folder)
        self.status.say(f"Worklist: {n} studies in {folder}")
        return n
