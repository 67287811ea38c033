"""How measurements look on the image: pyqtgraph items drawn in image points (pixel centres on
integers, :mod:`ichviewer.core.measure`) inside :attr:`ichviewer.ui.image_view.ImageView.
annotations`, so they follow zoom, pan, flips and turns. Lines are yellow over a dark
shadow and labels white on a translucent black box: readable on bone and on air alike.
Labels stay upright and unscaled whatever the view (pyqtgraph's TextItem)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from ichviewer.core.measure import EllipseROI, HematomaVolume, Measurement, PolygonROI, Ruler

LINE = "#ffd21f"
DRAFT = "#34d8ff"
LABEL_TEXT = "#ffffff"
LABEL_FILL = (0, 0, 0, 180)
SHADOW = (0, 0, 0, 200)


def ellipse_points(
    center: Sequence[float], radii: Sequence[float], angle_deg: float = 0.0, n: int = 72
) -> tuple[np.ndarray, np.ndarray]:
    """A closed outline of an ellipse (angle counter-clockwise on screen, as EllipseROI)."""
    t = np.linspace(0.0, 2.0 * math.pi, n + 1)
    a = math.radians(angle_deg)
    ex, ey = radii[0] * np.cos(t), radii[1] * np.sin(t)
    x = center[0] + ex * math.cos(a) + ey * math.sin(a)
    y = center[1] - ex * math.sin(a) + ey * math.cos(a)
    return x, y


def outline(m: Measurement) -> list[tuple[np.ndarray, np.ndarray]]:
    """The polylines of a measurement, in image points."""
    if isinstance(m, Ruler):
        return [(np.array([m.p0[0], m.p1[0]]), np.array([m.p0[1], m.p1[1]]))]
    if isinstance(m, EllipseROI):
        return [ellipse_points(m.center, m.radii, m.angle_deg)]
    if isinstance(m, PolygonROI):
        pts = np.asarray([*m.points, m.points[0]], dtype=float)
        return [(pts[:, 0], pts[:, 1])]
    if isinstance(m, HematomaVolume):
        return outline(m.a) + outline(m.b)
    raise TypeError(f"not a measurement: {m!r}")


def label_anchor(m: Measurement, matrix: np.ndarray | None = None) -> tuple[float, float]:
    """Where a measurement's label goes: just right, on screen, of its right-most point on
    screen. ``matrix``: the view's flips / turns (image to screen directions)."""
    xs = np.concatenate([x for x, _ in outline(m)])
    ys = np.concatenate([y for _, y in outline(m)])
    mat = np.eye(2) if matrix is None else np.asarray(matrix, dtype=float)
    i = int(np.argmax(mat[0, 0] * xs + mat[0, 1] * ys))
    dx, dy = mat.T @ np.array([2.0, 0.0])  # 2 pixels to the screen's right, in the image
    return float(xs[i] + dx), float(ys[i] + dy)


class MeasureGraphic(pg.ItemGroup):
    """One measurement (or a draft being drawn): its lines and a label."""

    def __init__(self, parent: pg.GraphicsObject, draft: bool = False) -> None:
        super().__init__(parent)
        colour = DRAFT if draft else LINE
        self._shadow_pen = pg.mkPen(SHADOW, width=4)
        self._pen = pg.mkPen(colour, width=2)
        self._curves: list[tuple[pg.PlotCurveItem, pg.PlotCurveItem]] = []
        self.label = pg.TextItem(
            "", color=LABEL_TEXT, fill=pg.mkBrush(*LABEL_FILL), anchor=(0, 0.5)
        )
        font = QtGui.QFont()
        font.setPointSizeF(10.0)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setParentItem(self)
        self.label.setZValue(5)

    def set_lines(self, lines: list[tuple[np.ndarray, np.ndarray]]) -> None:
        while len(self._curves) < len(lines):
            pair = (pg.PlotCurveItem(pen=self._shadow_pen), pg.PlotCurveItem(pen=self._pen))
            for c in pair:
                c.setParentItem(self)
            self._curves.append(pair)
        for k, pair in enumerate(self._curves):
            x, y = lines[k] if k < len(lines) else (np.zeros(0), np.zeros(0))
            for c in pair:
                c.setData(np.asarray(x, float), np.asarray(y, float))

    def set_label(self, text: str, at: tuple[float, float]) -> None:
        self.label.setText(text)
        self.label.setPos(*at)
        self.label.setVisible(bool(text))

    def show_measurement(self, m: Measurement, text: str, matrix: np.ndarray | None = None) -> None:
        self.set_lines(outline(m))
        self.set_label(text, label_anchor(m, matrix))

    def remove(self) -> None:
        scene = self.scene()
        self.setParentItem(None)
        if scene is not None:
            scene.removeItem(self)
