"""The slice view: one pyqtgraph ImageItem of float HU shown through a window table, an
RGBA overlay layer above it, corner text, and PACS-style mouse handling.

Mouse: wheel scrolls slices, Ctrl+wheel and right-drag zoom, middle-drag and Shift+left-drag
pan, left-drag changes window width (horizontal) and level (vertical), or, while a
measuring tool is on, draws (:attr:`ImageView.tool_event`). Geometry is in mm:
the image item is scaled by the pixel spacing, so rows and columns of different spacing
keep their true aspect, and the y axis points down so row 0 (anterior, for axial CT) is at
the top and column 0 (the patient's right) on the left, as DICOM intends, unless the view is
flipped or turned (:meth:`ImageView.set_view_matrix`): the image, its overlay and the
drawn measurements (children of the image item) turn together.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.ui.corner_text import CornerOverlay
from ichviewer.ui.hu_image import HUImageItem
from ichviewer.ui.theme import CORNER_TEXT, IMAGE_BACKGROUND

WHEEL_NOTCH = 120  # angle delta of one wheel click (1/8 degree units)
DRAG_START_PX = 3  # a left press that moves less than this is a click, not a W/L drag


class SliceViewBox(pg.ViewBox):
    """A ViewBox whose wheel scrolls slices (Ctrl+wheel zooms)."""

    slice_step = QtCore.Signal(int)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._wheel_rest = 0

    def wheelEvent(self, ev, axis=None):  # noqa: ANN001 - Qt override
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)  # zoom about the cursor
            return
        # Accumulate so high-resolution wheels and touchpads step once per notch.
        self._wheel_rest += ev.delta()
        steps = int(self._wheel_rest / WHEEL_NOTCH)
        if steps:
            self._wheel_rest -= steps * WHEEL_NOTCH
            self.slice_step.emit(-steps)  # wheel towards the user (negative delta) = next
        ev.accept()


class SliceGraphicsView(pg.GraphicsView):
    """Takes plain left-drags for window/level before pyqtgraph's scene sees them.

    Handled here rather than in ViewBox.mouseDragEvent so a W/L drag skips pyqtgraph's
    per-move hover and item search (about 1.5 ms a move) and its 100 Hz move limit: the
    window follows the mouse at the screen's rate. Middle-drag, Shift+left-drag (pan) and
    right-drag (zoom) go on to pyqtgraph.
    """

    wl_drag_started = QtCore.Signal()
    wl_dragged = QtCore.Signal(float, float)  # total dx, dy in screen pixels since the press
    wl_drag_finished = QtCore.Signal()
    #: A measuring tool's left-button events: "press" | "move" | "release" | "double", and the
    #: scene position. Sent instead of W/L drags while :attr:`tool_active` is set.
    tool_mouse = QtCore.Signal(str, QtCore.QPointF)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, background=IMAGE_BACKGROUND)
        self._wl_press: QtCore.QPointF | None = None
        self._wl_active = False
        self.tool_active = False
        self._tool_down = False

    def _tool_event(self, kind: str, ev: QtGui.QMouseEvent) -> None:
        self.tool_mouse.emit(kind, QtCore.QPointF(self.mapToScene(ev.position().toPoint())))
        ev.accept()

    def _is_plain_left(self, ev: QtGui.QMouseEvent) -> bool:
        return (
            ev.button() == QtCore.Qt.MouseButton.LeftButton
            and not ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier
        )

    def mouseDoubleClickEvent(self, ev: QtGui.QMouseEvent) -> None:
        if self.tool_active and self._is_plain_left(ev):
            self._tool_event("double", ev)
            return
        super().mouseDoubleClickEvent(ev)

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:
        if self.tool_active and self._is_plain_left(ev):
            self._tool_down = True
            self._tool_event("press", ev)
            return
        if self._is_plain_left(ev):
            self._wl_press = ev.position()
            self._wl_active = False
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:
        if self._tool_down and ev.buttons() & QtCore.Qt.MouseButton.LeftButton:
            self._tool_event("move", ev)
            return
        if self._wl_press is not None and ev.buttons() & QtCore.Qt.MouseButton.LeftButton:
            d = ev.position() - self._wl_press
            if not self._wl_active and abs(d.x()) + abs(d.y()) < DRAG_START_PX:
                return  # a click, so far
            if not self._wl_active:
                self._wl_active = True
                self.wl_drag_started.emit()
            self.wl_dragged.emit(float(d.x()), float(d.y()))
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QtGui.QMouseEvent) -> None:
        if self._tool_down and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self._tool_down = False
            self._tool_event("release", ev)
            return
        if self._wl_press is not None and ev.button() == QtCore.Qt.MouseButton.LeftButton:
            if self._wl_active:
                d = ev.position() - self._wl_press
                self.wl_dragged.emit(float(d.x()), float(d.y()))
                self.wl_drag_finished.emit()
            self._wl_press, self._wl_active = None, False
            ev.accept()
            return
        super().mouseReleaseEvent(ev)


class ImageView(QtWidgets.QWidget):
    """Shows one slice at a time; knows nothing about series or loading."""

    hovered = QtCore.Signal(int, int)  # column, row under the cursor; -1, -1 outside
    zoom_changed = QtCore.Signal(float)
    #: A measuring tool's mouse event ("press" | "move" | "release" | "double") at image
    #: point (x, y): pixel centres on integers, as :mod:`ichviewer.core.measure` wants.
    tool_event = QtCore.Signal(str, float, float)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = SliceGraphicsView(self)
        self.graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.graphics.setAcceptDrops(False)  # drops go to the main window
        self.view_box = SliceViewBox()
        self.graphics.setCentralItem(self.view_box)
        self.image_item = HUImageItem()
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.overlay_item.setVisible(False)
        self.view_box.addItem(self.image_item)
        self.view_box.addItem(self.overlay_item)
        #: Measurements are drawn in here, in image points (pixel centres on integers); a
        #: child of the image item, so it follows the spacing, flips and turns.
        self.annotations = pg.ItemGroup(self.image_item)
        self.annotations.setTransform(QtGui.QTransform.fromTranslate(0.5, 0.5))
        self.annotations.setZValue(20)
        self._matrix = np.eye(2, dtype=np.int64)
        self.graphics.tool_mouse.connect(self._on_tool_mouse)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.corners = CornerOverlay(self.graphics)
        self.message = QtWidgets.QLabel(self.graphics)
        self.message.setObjectName("view_message")
        self.message.setWordWrap(True)
        self.message.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.message.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.message.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.message.setStyleSheet(f"color: {CORNER_TEXT}; font-size: 14px;")
        self.graphics.installEventFilter(self)
        self._spacing = (1.0, 1.0)
        self._shape: tuple[int, int] | None = None
        # Hover look-ups at most 60 times a second, however fast the mouse moves.
        self._hover_proxy = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved, rateLimit=60, slot=self._on_scene_mouse_moved
        )
        self.view_box.sigRangeChanged.connect(self._on_range_changed)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

    # -- content -------------------------------------------------------------------------

    def set_geometry(self, rows: int, columns: int, spacing: tuple[float, float] | None) -> None:
        """Image size in pixels and PixelSpacing (row, column) in mm (None: square pixels)."""
        row_mm, col_mm = spacing if spacing and min(spacing) > 0 else (1.0, 1.0)
        self._spacing = (float(row_mm), float(col_mm))
        self._shape = (rows, columns)
        self._apply_transform()

    def set_view_matrix(self, matrix: np.ndarray) -> None:
        """Flip / turn the view: ``matrix`` from :func:`ichviewer.core.presets.view_transform`
        takes image directions to screen directions; the image is fitted again."""
        m = np.asarray(matrix, dtype=np.int64)
        if np.array_equal(m, self._matrix):
            return
        self._matrix = m
        self._apply_transform()
        self.fit()

    def _apply_transform(self) -> None:
        """Pixels -> mm (the spacing), then the view matrix, moved back to the origin."""
        row_mm, col_mm = self._spacing
        m = self._matrix
        tr = QtGui.QTransform.fromScale(col_mm, row_mm) * QtGui.QTransform(
            float(m[0, 0]), float(m[1, 0]), float(m[0, 1]), float(m[1, 1]), 0.0, 0.0
        )
        rows, cols = self._shape or (0, 0)
        box = tr.mapRect(QtCore.QRectF(0, 0, cols, rows))
        tr = tr * QtGui.QTransform.fromTranslate(-box.left(), -box.top())
        self.image_item.setTransform(tr)
        self.overlay_item.setTransform(tr)

    def show_slice(self, hu: np.ndarray) -> None:
        """Display a (H, W) float HU slice through the current table. The array is only read."""
        view = hu.view()
        view.setflags(write=False)
        self.image_item.set_hu(view)

    def set_lut(self, lut: np.ndarray) -> None:
        """The window: a uint8 table over the HU range, (N,) grey or (N, 3) colour."""
        self.image_item.set_table(lut)

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """An (H, W, 4) uint8 layer drawn above the image, same pixel grid; None hides it."""
        if rgba is None:
            self.overlay_item.setVisible(False)
            self.overlay_item.clear()
            return
        a = np.asarray(rgba)
        if a.ndim != 3 or a.shape[2] != 4 or a.dtype != np.uint8:
            raise ValueError(f"overlay must be (H, W, 4) uint8, got {a.shape} {a.dtype}")
        if self._shape is not None and a.shape[:2] != self._shape:
            raise ValueError(f"overlay is {a.shape[:2]}, the image is {self._shape}")
        self.overlay_item.setImage(a, autoLevels=False, levels=None)
        self.overlay_item.setVisible(True)

    def clear(self) -> None:
        self.image_item.clear()
        self.set_overlay(None)
        self._shape = None

    def set_message(self, text: str) -> None:
        """A centred message over the view (empty hides it)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self._place_message()

    # -- view ----------------------------------------------------------------------------

    def fit(self) -> None:
        """Fit the whole image into the window (F)."""
        if self._shape is None:
            return
        rows, cols = self._shape
        rect = self.image_item.transform().mapRect(QtCore.QRectF(0, 0, cols, rows))
        self.view_box.setRange(rect=rect, padding=0.0)

    def zoom(self) -> float:
        """Screen pixels per image pixel (1.0 = one to one)."""
        # From the requested range, not viewPixelSize(): pyqtgraph updates its transform
        # lazily (on paint), so that one lags right after a range change.
        vr, box = self.view_box.viewRect(), self.view_box.rect()
        if vr.width() <= 0 or box.width() <= 0:
            return 1.0
        across = self._spacing[1] if self._matrix[0, 0] else self._spacing[0]  # turned: rows
        return box.width() / vr.width() * across

    def image_pixel_at(self, scene_pos: QtCore.QPointF) -> tuple[int, int] | None:
        """(column, row) of the image pixel under a scene position, or None outside."""
        if self._shape is None:
            return None
        p = self.image_item.mapFromScene(scene_pos)
        col, row = math.floor(p.x()), math.floor(p.y())
        if 0 <= row < self._shape[0] and 0 <= col < self._shape[1]:
            return col, row
        return None

    def rendered_image(self) -> np.ndarray:
        """What the image item draws, before scaling to the screen: (H, W) grey or (H, W, 3)
        RGB uint8. Renders now if the item is out of date."""
        item = self.image_item
        if item.image is None:
            raise RuntimeError("no image is shown")
        if item._renderRequired or item.qimage is None:  # pyqtgraph renders lazily, on paint
            item.render()
        q = item.qimage.convertToFormat(QtGui.QImage.Format.Format_RGB888)
        h, w = q.height(), q.width()
        arr = np.frombuffer(q.constBits(), dtype=np.uint8, count=q.bytesPerLine() * h)
        arr = arr.reshape(h, q.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()
        return arr[:, :, 0].copy() if item.is_grey else arr

    # -- events --------------------------------------------------------------------------

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if obj is self.graphics and event.type() == QtCore.QEvent.Type.Resize:
            self._place_message()
        return False

    def _place_message(self) -> None:
        w = max(200, self.graphics.width() - 80)
        self.message.setFixedWidth(w)
        self.message.adjustSize()
        self.message.move(
            (self.graphics.width() - w) // 2, (self.graphics.height() - self.message.height()) // 2
        )

    def set_tool_active(self, on: bool) -> None:
        """Left-button drags draw (``tool_event``) instead of changing the window."""
        self.graphics.tool_active = bool(on)
        cursor = QtCore.Qt.CursorShape.CrossCursor if on else QtCore.Qt.CursorShape.ArrowCursor
        self.graphics.viewport().setCursor(cursor)

    def _on_tool_mouse(self, kind: str, scene_pos: QtCore.QPointF) -> None:
        if self._shape is None:
            return
        p = self.image_item.mapFromScene(scene_pos)
        self.tool_event.emit(kind, p.x() - 0.5, p.y() - 0.5)

    def _on_scene_mouse_moved(self, args: tuple) -> None:
        hit = self.image_pixel_at(args[0])
        self.hovered.emit(*(hit if hit is not None else (-1, -1)))

    def _on_range_changed(self, *_: object) -> None:
        self.zoom_changed.emit(self.zoom())
