"""Dark theme like radiology workstations: black image area, dark grey chrome, muted accents."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

#: Image background (pure black, so air outside the head is indistinguishable from it).
IMAGE_BACKGROUND = "#000000"
#: Corner text: light grey, the usual PACS overlay colour; demo warning in amber.
CORNER_TEXT = "#d8d8d8"
DEMO_TEXT = "#ffb000"

STYLESHEET = """
QMainWindow, QDialog { background: #2b2b2b; }
QToolBar { background: #262626; border: none; spacing: 3px; padding: 2px; }
QToolButton { color: #dcdcdc; padding: 3px 7px; border: 1px solid transparent; border-radius: 3px; }
QToolButton:hover { border-color: #5a5a5a; }
QToolButton:checked { background: #3d5a80; border-color: #6d8bb0; color: #ffffff; }
QStatusBar { background: #1f1f1f; color: #cfcfcf; }
QStatusBar QLabel { color: #cfcfcf; padding: 0 6px; }
QDockWidget { color: #cfcfcf; }
QListWidget, QTableWidget, QTextBrowser { background: #1e1e1e; color: #dcdcdc; border: 1px solid #3a3a3a; }
QListWidget::item:selected { background: #3d5a80; }
QSlider::groove:horizontal { height: 6px; background: #3a3a3a; border-radius: 3px; }
QSlider::handle:horizontal { width: 12px; margin: -5px 0; background: #9aa7b8; border-radius: 6px; }
QProgressBar { background: #1e1e1e; color: #dcdcdc; border: 1px solid #3a3a3a; border-radius: 3px;
               text-align: center; max-height: 14px; }
QProgressBar::chunk { background: #3d5a80; }
"""


def dark_palette() -> QtGui.QPalette:
    """The Fusion palette in dark greys."""
    p = QtGui.QPalette()
    role, c = QtGui.QPalette.ColorRole, QtGui.QColor
    p.setColor(role.Window, c(43, 43, 43))
    p.setColor(role.WindowText, c(220, 220, 220))
    p.setColor(role.Base, c(30, 30, 30))
    p.setColor(role.AlternateBase, c(38, 38, 38))
    p.setColor(role.ToolTipBase, c(50, 50, 50))
    p.setColor(role.ToolTipText, c(230, 230, 230))
    p.setColor(role.Text, c(220, 220, 220))
    p.setColor(role.Button, c(50, 50, 50))
    p.setColor(role.ButtonText, c(220, 220, 220))
    p.setColor(role.BrightText, c(255, 80, 80))
    p.setColor(role.Highlight, c(61, 90, 128))
    p.setColor(role.HighlightedText, c(255, 255, 255))
    p.setColor(role.Link, c(120, 160, 220))
    p.setColor(QtGui.QPalette.ColorGroup.Disabled, role.Text, c(120, 120, 120))
    p.setColor(QtGui.QPalette.ColorGroup.Disabled, role.ButtonText, c(120, 120, 120))
    return p


def apply_dark_theme(app: QtWidgets.QApplication) -> None:
    """Fusion style + dark palette + a small stylesheet for toolbars and the status bar."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
