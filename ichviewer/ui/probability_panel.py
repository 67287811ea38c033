"""The AI's probabilities for the slice on screen: six labels in the RSNA order, each with a
bar, its value and the checkpoint's threshold marked on the bar. Values at or above the
threshold are drawn in red and bold. A footer names the model and says it is not for
diagnostic use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_labels
from ichviewer.ui.ai_style import BAR_COLOUR, FLAG_COLOUR, MUTED, TITLES, Footer, fmt_p


class ProbabilityBar(QtWidgets.QWidget):
    """A horizontal 0..1 bar with a tick at the threshold."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.value: float | None = None
        self.threshold: float | None = None
        #: drawn in red: the panel says so (ichviewer.core.triage.flagged_labels decides)
        self.flagged = False
        self.setMinimumSize(80, 14)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed
        )

    def set_values(self, value: float | None, threshold: float | None) -> None:
        self.value, self.threshold = value, threshold
        self.update()

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(140, 14)

    def paintEvent(self, _event: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self)
        r = self.rect().adjusted(0, 2, -1, -2)
        p.fillRect(r, QtGui.QColor("#1b1b1b"))
        p.setPen(QtGui.QColor("#444444"))
        p.drawRect(r)
        if self.value is not None:
            w = round((r.width() - 1) * float(np.clip(self.value, 0, 1)))
            colour = FLAG_COLOUR if self.flagged else BAR_COLOUR
            p.fillRect(
                QtCore.QRect(r.left() + 1, r.top() + 1, w, r.height() - 1), QtGui.QColor(colour)
            )
        if self.threshold is not None:
            x = r.left() + round(r.width() * float(np.clip(self.threshold, 0, 1)))
            p.setPen(QtGui.QPen(QtGui.QColor("#ffd54f"), 2))
            p.drawLine(x, self.rect().top(), x, self.rect().bottom())
        p.end()


class ProbabilityPanel(QtWidgets.QWidget):
    """Probabilities of one slice, or a line saying why there are none."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probability_panel")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        self.heading = QtWidgets.QLabel("")
        self.heading.setObjectName("probability_heading")
        self.heading.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.heading)
        grid = QtWidgets.QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(3)
        self.names: dict[str, QtWidgets.QLabel] = {}
        self.bars: dict[str, ProbabilityBar] = {}
        self.values: dict[str, QtWidgets.QLabel] = {}
        for row, lb in enumerate(LABELS):
            name = QtWidgets.QLabel(TITLES[lb])
            bar = ProbabilityBar(self)
            bar.setObjectName(f"bar_{lb}")
            value = QtWidgets.QLabel("–")
            value.setObjectName(f"value_{lb}")
            value.setMinimumWidth(34)
            value.setAlignment(
                QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
            )
            grid.addWidget(name, row, 0)
            grid.addWidget(bar, row, 1)
            grid.addWidget(value, row, 2)
            self.names[lb], self.bars[lb], self.values[lb] = name, bar, value
        grid.setColumnStretch(1, 1)
        self.rows = QtWidgets.QWidget(self)  # the six rows: hidden when they would mislead
        self.rows.setObjectName("probability_rows")
        self.rows.setLayout(grid)
        grid.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.rows)
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("probability_status")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {MUTED};")
        lay.addWidget(self.status)
        self.footer = Footer(self)
        lay.addWidget(self.footer)
        self._thresholds: np.ndarray | None = None
        self.set_probabilities(None, "Not scored yet")

    def set_thresholds(self, thresholds: Sequence[float] | None) -> None:
        self._thresholds = None if thresholds is None else np.asarray(thresholds, np.float32)
        for k, lb in enumerate(LABELS):
            t = None if self._thresholds is None else float(self._thresholds[k])
            self.bars[lb].set_values(self.bars[lb].value, t)
            tip = f"{TITLES[lb]}: operating threshold {t:.3f}" if t is not None else TITLES[lb]
            for w in (self.names[lb], self.bars[lb], self.values[lb]):
                w.setToolTip(tip)

    def set_probabilities(
        self,
        probabilities: np.ndarray | None,
        status: str = "",
        heading: str = "",
        rows: bool = True,
    ) -> None:
        """Show a slice's six probabilities (None: dashes, and ``status`` says why);
        ``rows=False`` hides the rows altogether (a series out of the model's scope: bars,
        even empty ones, would read as a result)."""
        self.heading.setText(heading)
        self.heading.setVisible(bool(heading))
        self.rows.setVisible(rows)
        fired = (
            []
            if probabilities is None or self._thresholds is None
            else flagged_labels(probabilities, self._thresholds)
        )
        for k, lb in enumerate(LABELS):
            p = None if probabilities is None else float(probabilities[k])
            bar = self.bars[lb]
            bar.flagged = hot = lb in fired
            bar.set_values(p, bar.threshold)
            value = self.values[lb]
            value.setText(fmt_p(p))
            style = f"color: {FLAG_COLOUR}; font-weight: bold;" if hot else ""
            if value.styleSheet() != style:
                value.setStyleSheet(style)
                self.names[lb].setStyleSheet(style)
        self.status.setText(status)
        self.status.setVisible(bool(status))

    def value_text(self, label: str) -> str:
        return self.values[label].text()

    def is_flagged(self, label: str) -> bool:
        return self.bars[label].flagged
