"""Small windows: the list of unreadable files, keyboard shortcuts, About."""

from __future__ import annotations

import html
import platform

import numpy as np
import pydicom
import pyqtgraph as pg
import PySide6
from PySide6 import QtCore, QtWidgets

import ichviewer
from ichviewer.io import FileError

#: (keys, what they do); the one list the shortcuts dialog and the README show.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Mouse wheel, Down / Up", "Next / previous slice"),
    ("Page Down / Page Up", "10 slices forward / back"),
    ("Home / End", "First / last slice"),
    ("Space", "Cine play / pause (speed: fps box in the toolbar)"),
    ("1 / 2 / 3", "Brain 40/80, subdural 80/200, bone 600/2800 window"),
    ("4", "RGB composite: brain, subdural, bone as red, green, blue"),
    ("5", "Stroke window 40/40 (more presets: View > Window, File > Settings)"),
    ("W", "Type a window level and width"),
    ("I", "Invert the display"),
    ("S", "Linear / sigmoid window mapping"),
    ("Ctrl+Shift+H / Ctrl+Shift+V", "Flip the view left-right / up-down (markers follow)"),
    ("Ctrl+R / Ctrl+Shift+R", "Rotate the view 90° clockwise / anticlockwise"),
    ("M", "Ruler (mm)"),
    ("O", "Ellipse ROI (mean, SD, min, max HU, area)"),
    ("L", "Freehand / polygon ROI"),
    ("V", "ABC/2 hematoma volume: A, B on one slice, then the first and last slice"),
    ("Esc", "Drop the shape being drawn, then leave the tool"),
    ("Left-drag", "Window: right = wider, down = higher level"),
    ("Ctrl+wheel, right-drag", "Zoom (drag up zooms in)"),
    ("Middle-drag, Shift+left-drag", "Pan"),
    ("F", "Fit image to window"),
    ("R", "Reset: fit, and the preset's window"),
    ("Ctrl+O / Ctrl+Shift+O", "Open folder / open files (or drop them on the window)"),
    ("Ctrl+L", "Show the list of files that could not be read"),
    ("H", "AI heatmap on / off (label, opacity and colours in the AI panel)"),
    (
        "N / Shift+N or P",
        "Next / previous flagged slice (anatomical order unless the list is sorted by suspicion)",
    ),
    ("Escape / Enter in the note", "Save the note and give the keys back to the image"),
    ("A / D / U", "Mark this slice: agree / disagree / unsure with the AI (saved at once)"),
    ("Ctrl+I", "Score this study (when automatic scoring is off)"),
    ("Ctrl+E / Ctrl+Shift+E", "Export AI results and marks (JSON, CSV) / the view as PNG"),
    ("F1", "This list"),
)


class ProblemsPanel(QtWidgets.QTableWidget):
    """One row per file that could not be read (the header scan's and the decoder's): the
    whole file name and the whole reason, in columns the reader can resize; the full text is
    in each cell's tooltip too."""

    COLUMNS = ("File", "Reason")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setObjectName("problems_panel")
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)  # only if made narrower
        header = self.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self._seen: set[tuple[str, str]] = set()

    def set_errors(self, errors: list[FileError]) -> None:
        self.setRowCount(0)
        self._seen.clear()
        self.add_errors(errors)

    def add_errors(self, errors: list[FileError]) -> None:
        for e in errors:
            key = (e.file, e.error)
            if key in self._seen:
                continue
            self._seen.add(key)
            r = self.rowCount()
            self.insertRow(r)
            for col, text in enumerate(key):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(f"{e.file}\n{e.error}")
                self.setItem(r, col, item)
        if errors:
            self.resizeColumnToContents(0)  # whole names; the reason takes the rest

    def count(self) -> int:
        """How many files are listed."""
        return self.rowCount()

    def rows(self) -> list[tuple[str, str]]:
        """(file, reason) of every row, top to bottom."""
        return [(self.item(r, 0).text(), self.item(r, 1).text()) for r in range(self.rowCount())]

    def lines(self) -> list[str]:
        return [f"{f}: {why}" for f, why in self.rows()]


def _table_dialog(
    parent: QtWidgets.QWidget | None, title: str, rows: tuple[tuple[str, str], ...]
) -> QtWidgets.QDialog:
    dlg = QtWidgets.QDialog(parent)
    dlg.setWindowTitle(title)
    dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    table = QtWidgets.QTableWidget(len(rows), 2, dlg)
    table.setHorizontalHeaderLabels(["Keys / mouse", "Action"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    for r, (keys, action) in enumerate(rows):
        table.setItem(r, 0, QtWidgets.QTableWidgetItem(keys))
        table.setItem(r, 1, QtWidgets.QTableWidgetItem(action))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, dlg)
    buttons.rejected.connect(dlg.close)
    lay = QtWidgets.QVBoxLayout(dlg)
    lay.addWidget(table)
    lay.addWidget(buttons)
    dlg.resize(620, 460)
    return dlg


def shortcuts_dialog(parent: QtWidgets.QWidget | None = None) -> QtWidgets.QDialog:
    return _table_dialog(parent, "Keyboard shortcuts", SHORTCUTS)


def versions() -> dict[str, str]:
    return {
        "ICH Viewer": ichviewer.__version__,
        "Qt": QtCore.qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pg.__version__,
        "pydicom": pydicom.__version__,
        "numpy": np.__version__,
        "Python": platform.python_version(),
    }


def about_text(model_html: str = "") -> str:
    """Versions, the disclaimer, and ``model_html`` (the AI model's summary) if given."""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>&nbsp;{html.escape(v)}</td></tr>"
        for k, v in versions().items()
    )
    return (
        "<h3>ICH Viewer</h3>"
        "<p>A head-CT viewer with an AI second opinion for intracranial hemorrhage.<br>"
        "<b>Not for diagnostic use.</b></p>"
        f"<table>{rows}</table>" + (f"<h4>AI model</h4>{model_html}" if model_html else "")
    )


def about_dialog(
    parent: QtWidgets.QWidget | None = None, model_html: str = ""
) -> QtWidgets.QDialog:
    dlg = QtWidgets.QDialog(parent)
    dlg.setWindowTitle("About ICH Viewer")
    dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    label = QtWidgets.QLabel(about_text(model_html), dlg)
    label.setWordWrap(True)
    label.setMinimumWidth(560)
    label.setObjectName("about_text")
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, dlg)
    buttons.rejected.connect(dlg.close)
    lay = QtWidgets.QVBoxLayout(dlg)
    lay.addWidget(label)
    lay.addWidget(buttons)
    return dlg
