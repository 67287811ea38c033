"""Study profile: P(any) and each subtype against slice position, the slice on screen as a
vertical line, each label's threshold as a dashed line. Clicking the plot (or dragging the
line) moves to the nearest slice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ichviewer.core.labels import LABELS
from ichviewer.ui.ai_style import COLOURS, TITLES, Footer


class ProfilePlot(QtWidgets.QWidget):
    """A pyqtgraph PlotWidget of the study's probabilities plus the model footer."""

    slice_clicked = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profile_plot")
        self.plot = pg.PlotWidget(background="#1e1e1e", viewBox=pg.ViewBox(enableMenu=False))
        self.plot.setObjectName("profile_plot_widget")
        self.plot.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.plot.setMinimumHeight(160)
        pi = self.plot.getPlotItem()
        pi.setMenuEnabled(False)
        # PlotItem makes its options menu without a parent; give it one so it goes with
        # this widget instead of outliving the window.
        pi.ctrlMenu.setParent(self, pi.ctrlMenu.windowFlags())
        pi.hideButtons()
        pi.showGrid(x=False, y=True, alpha=0.15)
        pi.setLabel("left", "P")
        pi.setLabel("bottom", "slice position (mm)")
        vb = pi.getViewBox()
        vb.setMouseEnabled(x=False, y=False)
        vb.setYRange(-0.02, 1.08, padding=0)
        pi.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]])
        # The legend is a row of check boxes above the plot (it never hides a curve, and a
        # label's curve and threshold can be hidden).
        self.toggles: dict[str, QtWidgets.QCheckBox] = {}
        legend = QtWidgets.QHBoxLayout()
        legend.setSpacing(10)
        for lb in LABELS:
            box = QtWidgets.QCheckBox(TITLES[lb])
            box.setObjectName(f"profile_show_{lb}")
            box.setChecked(True)
            box.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            box.setStyleSheet(f"QCheckBox {{ color: {COLOURS[lb]}; }}")
            box.toggled.connect(lambda on, lb=lb: self._show_label(lb, on))
            legend.addWidget(box)
            self.toggles[lb] = box
        legend.addStretch(1)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.threshold_lines: dict[str, pg.InfiniteLine] = {}
        for lb in LABELS:
            width = 2.5 if lb == "any" else 1.3
            pen = pg.mkPen(COLOURS[lb], width=width)
            self.curves[lb] = pi.plot([], [], pen=pen, connect="finite", symbol=None)
            line = pg.InfiniteLine(
                angle=0,
                movable=False,
                pen=pg.mkPen(COLOURS[lb], width=1, style=QtCore.Qt.PenStyle.DashLine),
            )
            line.setOpacity(0.55)
            line.setVisible(False)
            pi.addItem(line, ignoreBounds=True)
            self.threshold_lines[lb] = line
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#ffd54f", width=1.5))
        self.cursor.setVisible(False)
        pi.addItem(self.cursor, ignoreBounds=True)
        self.cursor.sigDragged.connect(self._on_cursor_dragged)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)
        self.footer = Footer(self)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(legend)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.footer)
        self.x = np.zeros(0)
        self._index = 0
        self._has_thresholds = False

    # -- content ---------------------------------------------------------------------------

    def set_positions(self, positions: Sequence[float] | None, unit_mm: bool = True) -> None:
        """x of each slice (mm along the slice normal), or None for no study."""
        self.x = np.asarray(positions if positions is not None else [], dtype=np.float64)
        self.plot.getPlotItem().setLabel(
            "bottom", "slice position (mm)" if unit_mm else "slice number"
        )
        for c in self.curves.values():
            c.setData([], [])
        self.cursor.setVisible(len(self.x) > 0)
        if len(self.x):
            lo, hi = float(self.x.min()), float(self.x.max())
            pad = max(1.0, 0.02 * (hi - lo))
            self.plot.getPlotItem().getViewBox().setXRange(lo - pad, hi + pad, padding=0)

    def set_probabilities(self, probabilities: np.ndarray) -> None:
        """(N, 6), NaN for slices not scored yet (drawn as gaps)."""
        p = np.asarray(probabilities, dtype=np.float64)
        if len(p) != len(self.x):
            return
        for k, lb in enumerate(LABELS):
            self.curves[lb].setData(self.x, p[:, k], connect="finite")

    def set_thresholds(self, thresholds: Sequence[float] | None) -> None:
        self._has_thresholds = thresholds is not None
        for k, lb in enumerate(LABELS):
            line = self.threshold_lines[lb]
            line.setVisible(self._has_thresholds and self.toggles[lb].isChecked())
            if thresholds is not None:
                line.setValue(float(thresholds[k]))

    def set_current(self, index: int) -> None:
        self._index = index
        if 0 <= index < len(self.x):
            with QtCore.QSignalBlocker(self.cursor):
                self.cursor.setValue(float(self.x[index]))

    def _show_label(self, label: str, on: bool) -> None:
        self.curves[label].setVisible(on)
        self.threshold_lines[label].setVisible(on and self._has_thresholds)

    # -- interaction -----------------------------------------------------------------------

    def nearest_index(self, x: float) -> int | None:
        if not len(self.x):
            return None
        return int(np.argmin(np.abs(self.x - x)))

    def x_of(self, index: int) -> float:
        return float(self.x[index])

    def _on_clicked(self, ev) -> None:  # noqa: ANN001 - pyqtgraph MouseClickEvent
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        vb = self.plot.getPlotItem().getViewBox()
        pos = ev.scenePos()
        if not vb.sceneBoundingRect().contains(pos):
            return
        i = self.nearest_index(vb.mapSceneToView(pos).x())
        if i is not None:
            ev.accept()
            self.slice_clicked.emit(i)

    def _on_cursor_dragged(self, line: pg.InfiniteLine) -> None:
        i = self.nearest_index(float(line.value()))
        if i is not None and i != self._index:
            self.slice_clicked.emit(i)
