"""Small things every part uses: the status-bar message time, docks, the AI state line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

if TYPE_CHECKING:
    from ichviewer.ui.ai_controller import AIController

#: How long a status-bar message stays (ms).
STATUS_MS = 8000
_Area = QtCore.Qt.DockWidgetArea
LEFT, RIGHT, BOTTOM = (
    _Area.LeftDockWidgetArea,
    _Area.RightDockWidgetArea,
    _Area.BottomDockWidgetArea,
)


def make_dock(
    win: QtWidgets.QMainWindow,
    title: str,
    name: str,
    widget: QtWidgets.QWidget,
    area: QtCore.Qt.DockWidgetArea,
) -> QtWidgets.QDockWidget:
    """A dock named ``name`` holding ``widget``, added to ``win`` at ``area``."""
    dock = QtWidgets.QDockWidget(title, win)
    dock.setObjectName(name)
    dock.setWidget(widget)
    win.addDockWidget(area, dock)
    return dock


def column(*widgets: QtWidgets.QWidget, stretch: int | None = None) -> QtWidgets.QWidget:
    """Widgets stacked in a margin-less column (``stretch``: index of the one that grows)."""
    box = QtWidgets.QWidget()
    lay = QtWidgets.QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for i, w in enumerate(widgets):
        lay.addWidget(w, 1 if i == stretch else 0)
    return box


def ai_state_text(ai: AIController) -> str:
    """Why there are no probabilities: scoring off, the model loading, or its message."""
    if ai.state == "idle":
        return "Not scored yet (automatic scoring is off: AI > Score this study)"
    if ai.state == "loading":
        return "Not scored yet (loading the AI model…)"
    return ai.message or "No AI model"


class StatusBar:
    """The window's status bar as parts use it: one message at a time."""

    def __init__(self, win: QtWidgets.QMainWindow) -> None:
        self._bar = win.statusBar()

    def say(self, text: str, factor: int = 1) -> None:
        self._bar.showMessage(text, STATUS_MS * factor)

    def add(self, widget: QtWidgets.QWidget) -> None:
        self._bar.addPermanentWidget(widget)
