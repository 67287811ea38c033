"""The reader's verdict on the slice on screen: agree / disagree / unsure (A / D / U) with
the AI, and a note. The window saves every change at once (see window_review.py)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ichviewer.io.marks import VERDICTS
from ichviewer.ui.ai_style import MUTED
from ichviewer.ui.triage_panel import VERDICT_COLOUR

#: A note being typed is saved this long after the last keystroke (and on Enter / leaving).
NOTE_SAVE_DELAY_MS = 700
KEYS = {"agree": "A", "disagree": "D", "unsure": "U"}


class MarksPanel(QtWidgets.QWidget):
    """Verdict buttons and a note for one slice."""

    verdict_chosen = QtCore.Signal(object)  # a verdict, or None to clear
    note_changed = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("marks_panel")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 6)
        lay.setSpacing(4)
        self.context = QtWidgets.QLabel("")
        self.context.setObjectName("marks_context")
        self.context.setWordWrap(True)
        lay.addWidget(self.context)
        row = QtWidgets.QHBoxLayout()
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for v in VERDICTS:
            b = QtWidgets.QPushButton(f"{v.capitalize()} ({KEYS[v]})")
            b.setObjectName(f"mark_{v}")
            b.setCheckable(True)
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            b.setStyleSheet(
                f"QPushButton:checked {{ background: {VERDICT_COLOUR[v]}; color: black; }}"
            )
            b.clicked.connect(lambda checked, v=v: self.verdict_chosen.emit(v if checked else None))
            row.addWidget(b)
            self.buttons[v] = b
        lay.addLayout(row)
        self.note = QtWidgets.QLineEdit()
        self.note.setObjectName("mark_note")
        self.note.setPlaceholderText("Note on this slice (saved as you type)")
        self.note.setClearButtonEnabled(True)
        lay.addWidget(self.note)
        self.saved = QtWidgets.QLabel("")
        self.saved.setObjectName("marks_saved")
        self.saved.setStyleSheet(f"color: {MUTED}; font-size: 10px;")
        lay.addWidget(self.saved)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(NOTE_SAVE_DELAY_MS)
        self._timer.timeout.connect(self.commit_note)
        self.note.textEdited.connect(lambda _t: self._timer.start())
        self.note.editingFinished.connect(self.commit_note)
        self._committed = ""
        self.set_enabled(False)

    def set_enabled(self, on: bool) -> None:
        for b in self.buttons.values():
            b.setEnabled(on)
        self.note.setEnabled(on)

    def show_mark(self, verdict: str | None, note: str, context: str) -> None:
        """What is saved for the slice now on screen (a pending note is committed first)."""
        self.commit_note()
        for v, b in self.buttons.items():
            with QtCore.QSignalBlocker(b):
                b.setChecked(v == verdict)
        with QtCore.QSignalBlocker(self.note):
            if self.note.text() != note:
                self.note.setText(note)
        self._committed = note
        self.context.setText(context)

    def commit_note(self) -> None:
        """Hand a changed note to the window (timer, Enter, focus out, slice change)."""
        self._timer.stop()
        text = self.note.text().strip()
        if text != self._committed:
            self._committed = text
            self.note_changed.emit(text)

    def set_saved_text(self, text: str) -> None:
        self.saved.setText(text)
