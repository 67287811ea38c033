"""How the AI's output looks everywhere in the window: label names and colours, number
format, and the model / not-for-diagnostic-use footer every probability view carries."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

TITLES: dict[str, str] = {
    "epidural": "Epidural",
    "intraparenchymal": "Intraparenchymal",
    "intraventricular": "Intraventricular",
    "subarachnoid": "Subarachnoid",
    "subdural": "Subdural",
    "any": "Any ICH",
}
#: The usual abbreviations, for narrow columns (full names in tooltips).
SHORT: dict[str, str] = {
    "epidural": "EDH",
    "intraparenchymal": "IPH",
    "intraventricular": "IVH",
    "subarachnoid": "SAH",
    "subdural": "SDH",
    "any": "any",
}
#: One colour per label (profile curves, triage tags); "any" is white and drawn thicker.
COLOURS: dict[str, str] = {
    "epidural": "#ff9f40",
    "intraparenchymal": "#f06292",
    "intraventricular": "#4dd0e1",
    "subarachnoid": "#d4e157",
    "subdural": "#66bb6a",
    "any": "#ffffff",
}
FLAG_COLOUR = "#ff5a4f"  # a probability at or above its threshold
BAR_COLOUR = "#5b7aa0"  # below threshold
MUTED = "#9a9a9a"
DISCLAIMER = "Not for diagnostic use"
NO_MODEL = "No AI model"


def fmt_p(p: float | None) -> str:
    """A probability as the panels show it: two decimals ('0.87'); '–' when unknown."""
    return "–" if p is None else f"{float(p):.2f}"


class Footer(QtWidgets.QLabel):
    """Small grey line naming the model and saying "not for diagnostic use"."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ai_footer")
        self.setWordWrap(True)
        self.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.setStyleSheet(f"color: {MUTED}; font-size: 10px;")
        self.set_model_text("")

    def set_model_text(self, text: str) -> None:
        """``text``: the model line from :meth:`ModelInfo.footer` ('' while none is loaded)."""
        self.setText(text or f"{NO_MODEL} loaded — {DISCLAIMER.lower()}")
