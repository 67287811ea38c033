"""Widgets of the multiplanar reformats: a pane that shows one reformat (an
:class:`ichviewer.ui.image_view.ImageView` and a slider for its own index), cross-reference
lines drawn over any image view, plain clicks on an image view as image points, the corner
text of a reformat, and the background job that computes one.

Image points are ``(x, y)`` = ``(column, row)`` with pixel centres on integers, as in
:mod:`ichviewer.core.mpr`; pyqtgraph's ImageItem puts pixel ``i`` on ``[i, i + 1)``, so
item coordinates are image points plus 0.5.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.core import mpr
from ichviewer.core.mpr import Point, Reformat, VolumeGeometry
from ichviewer.errors import CancelledError
from ichviewer.io import SeriesInfo, SeriesReader
from ichviewer.ui.corner_text import DEMO_LINE
from ichviewer.ui.image_view import DRAG_START_PX, ImageView

#: Line colour of each plane: its reference line on the other views and its title.
PLANE_COLOURS = {"axial": "#e8c547", "coronal": "#4fc3f7", "sagittal": "#f06292"}


class ReferenceLines:
    """One line per other plane over ``view``'s image, in image points.

    The lines are children of the image item, so they follow its mm scaling (and any flip
    or rotation given to the item); their pens are cosmetic (one screen pixel wide).
    """

    def __init__(self, view: ImageView) -> None:
        self._view = view
        self._items: dict[str, pg.PlotCurveItem] = {}

    def set_lines(self, lines: dict[str, tuple[Point, Point] | None]) -> None:
        """``{plane: ((x0, y0), (x1, y1)) or None}``; planes left out are hidden."""
        for plane, item in self._items.items():
            if lines.get(plane) is None:
                item.setVisible(False)
        for plane, seg in lines.items():
            if seg is None:
                continue
            item = self._items.get(plane)
            if item is None:
                pen = pg.mkPen(PLANE_COLOURS.get(plane, "#ffffff"), width=1)
                item = pg.PlotCurveItem(pen=pen)
                item.setParentItem(self._view.image_item)
                item.setZValue(20)
                self._items[plane] = item
            (x0, y0), (x1, y1) = seg
            item.setData(np.array([x0, x1]) + 0.5, np.array([y0, y1]) + 0.5)
            item.setVisible(True)

    def line(self, plane: str) -> tuple[Point, Point] | None:
        """The segment drawn for ``plane`` (image points), None when hidden."""
        item = self._items.get(plane)
        if item is None or not item.isVisible():
            return None
        x, y = item.getData()
        return (float(x[0]) - 0.5, float(y[0]) - 0.5), (float(x[1]) - 0.5, float(y[1]) - 0.5)

    def clear(self) -> None:
        self.set_lines({})


class ClickFilter(QtCore.QObject):
    """Emits ``clicked(x, y)`` (image point) for a plain left click on ``view``'s image.

    A press and release that move less than :data:`DRAG_START_PX` without Shift: the view's
    own handling (window/level drag, pan, zoom) still gets every event.
    """

    clicked = QtCore.Signal(float, float)

    def __init__(self, view: ImageView) -> None:
        super().__init__(view)
        self._view = view
        self._press: QtCore.QPointF | None = None
        view.graphics.viewport().installEventFilter(self)

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        t = event.type()
        if t == QtCore.QEvent.Type.MouseButtonPress:
            ev: QtGui.QMouseEvent = event  # type: ignore[assignment]
            plain = not ev.modifiers() & (
                QtCore.Qt.KeyboardModifier.ShiftModifier
                | QtCore.Qt.KeyboardModifier.ControlModifier
            )
            left = ev.button() == QtCore.Qt.MouseButton.LeftButton
            self._press = ev.position() if left and plain else None
        elif t == QtCore.QEvent.Type.MouseButtonRelease and self._press is not None:
            ev = event  # type: ignore[assignment]
            d = ev.position() - self._press
            self._press = None
            if abs(d.x()) + abs(d.y()) < DRAG_START_PX:
                self._emit_at(ev.position())
        return False

    def _emit_at(self, pos: QtCore.QPointF) -> None:
        view = self._view
        if view.image_item.image is None or getattr(view.graphics, "tool_active", False):
            return  # nothing shown, or the click belongs to a measuring tool
        scene = view.graphics.mapToScene(pos.toPoint())
        p = view.image_item.mapFromScene(QtCore.QPointF(scene))
        self.clicked.emit(p.x() - 0.5, p.y() - 0.5)


class ReformatPane(QtWidgets.QWidget):
    """One reformat plane: the image view, its reference lines and a slider for its index."""

    def __init__(self, plane: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.plane = plane
        self.setObjectName(f"mpr_{plane}")
        self.view = ImageView(self)
        self.view.setObjectName(f"mpr_{plane}_view")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setObjectName(f"mpr_{plane}_slider")
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.slider.setEnabled(False)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(4)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.slider)
        self.lines = ReferenceLines(self.view)
        self.clicks = ClickFilter(self.view)
        self.shown: Reformat | None = None

    def set_range(self, n: int, index: int) -> None:
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setRange(0, max(n - 1, 0))
            self.slider.setValue(index)
        self.slider.setEnabled(n > 0)

    def set_index(self, index: int) -> None:
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setValue(index)

    def show_reformat(self, ref: Reformat) -> None:
        """Show ``ref`` in mm (fits the view when the image size changed)."""
        old = self.shown
        self.shown = ref
        rows, cols = ref.image.shape
        refit = old is None or old.image.shape != ref.image.shape
        refit = refit or old.pixel_spacing != ref.pixel_spacing
        if refit:
            self.view.set_geometry(rows, cols, ref.pixel_spacing)
        self.view.show_slice(ref.image)
        self.view.corners.set_orientation(ref.orientation_labels())
        self.view.set_message("")
        if refit:
            self.view.fit()

    def clear(self, message: str = "") -> None:
        self.shown = None
        self.view.clear()
        self.lines.clear()
        self.view.corners.set_orientation({})
        self.view.corners.set_lines({})
        self.view.set_message(message)
        self.set_range(0, 0)


def reformat_corner_lines(
    plane: str,
    index: int,
    count: int,
    position_mm: float,
    *,
    geometry: VolumeGeometry,
    slab: str,
    frame: str,
    series: SeriesInfo | None,
    demo: bool,
    display: str,
    pixel_mm: float,
    shape: tuple[int, int] | None,
    zoom: float,
) -> dict[str, list[str]]:
    """Corner text of a reformat: plane and series; index, position along the plane's
    normal, slab (empty: none), tilt and frame notes; the window; pixel size and zoom."""
    top_left = [DEMO_LINE] if demo else []
    top_left.append(plane.capitalize())
    if series is not None:
        num = f"Se {series.series_number}: " if series.series_number is not None else ""
        top_left.append(f"{num}{series.description}")
    top_right = [f"Im {index + 1}/{count}", f"Pos {position_mm:.1f} mm", slab or "Slab off"]
    if geometry.tilt_deg >= 0.05:
        top_right.append(f"Tilt {geometry.tilt_deg:.1f}° corrected")
    if frame:
        top_right.append(frame.capitalize())
    if geometry.approximate:
        top_right.append("Geometry approximate")
    bottom_right = [f"{pixel_mm:.3g} x {pixel_mm:.3g} mm/px"]
    if shape is not None:
        bottom_right.append(f"{shape[1]} x {shape[0]}  Zoom {zoom:.2f}")
    return {
        "top_left": top_left,
        "top_right": top_right,
        "bottom_left": [display],
        "bottom_right": bottom_right,
    }


def reformat_job(
    reader: SeriesReader,
    geometry: mpr.VolumeGeometry,
    plane: str,
    index: int,
    slab_mm: float,
    mode: str,
    frame: str,
    _report: Any,
    cancel: threading.Event,
) -> mpr.Reformat:
    """One reformat, off the UI thread; a request replaced before it starts does nothing."""
    if cancel.is_set():
        raise CancelledError("reformat replaced by a newer one")
    return mpr.reformat(reader.volume, geometry, plane, index, slab_mm, mode, frame=frame)  # type: ignore[arg-type]
