"""Pictures of the image view: the view as shown plus a legend strip (File > Export view as
PNG), and the image with its overlay at the slice's own resolution (tests, checks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6 import QtCore, QtGui

from ichviewer.ui.heatmap import qimage_from_rgb
from ichviewer.ui.image_view import ImageView

LEGEND_FONT_PT = 10
LEGEND_PAD = 8


def render_composite(view: ImageView) -> np.ndarray:
    """(H, W, 3) uint8: what the view draws inside the image (slice through its window,
    plus the overlay where shown), one output pixel per image pixel. The whole image must
    be in view (e.g. after fit)."""
    shape = view._shape
    if shape is None or view.image_item.image is None:
        raise RuntimeError("no image is shown")
    h, w = shape
    item = view.image_item
    source = item.mapRectToScene(QtCore.QRectF(0, 0, w, h))
    img = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGB32)
    img.fill(QtGui.QColor(0, 0, 0))
    p = QtGui.QPainter(img)
    p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
    view.graphics.scene().render(
        p, QtCore.QRectF(0, 0, w, h), source, QtCore.Qt.AspectRatioMode.IgnoreAspectRatio
    )
    p.end()
    rgb = img.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    arr = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=rgb.bytesPerLine() * h)
    return arr.reshape(h, rgb.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def view_with_legend(
    view: ImageView,
    lines: Sequence[tuple[str, str]],
    colorbar_rgb: np.ndarray | None = None,
) -> QtGui.QImage:
    """The view as on screen (corner text included) above a strip of legend ``lines``
    ((text, colour) pairs) and, if given, the heatmap's colour bar."""
    shot = view.grab().toImage()
    font = QtGui.QFont(view.font())
    font.setPointSize(LEGEND_FONT_PT)
    fm = QtGui.QFontMetrics(font)
    line_h = fm.height() + 2
    bar_h = 14 if colorbar_rgb is not None else 0
    strip_h = LEGEND_PAD * 2 + line_h * len(lines) + (bar_h + 4 if bar_h else 0)
    out = QtGui.QImage(shot.width(), shot.height() + strip_h, QtGui.QImage.Format.Format_RGB32)
    out.fill(QtGui.QColor("#101010"))
    p = QtGui.QPainter(out)
    p.drawImage(0, 0, shot)
    p.setFont(font)
    y = shot.height() + LEGEND_PAD
    if colorbar_rgb is not None:
        bar = qimage_from_rgb(colorbar_rgb)
        width = min(320, shot.width() - 2 * LEGEND_PAD)
        target = QtCore.QRect(LEGEND_PAD, y, width, bar_h)
        p.drawImage(target, bar)
        p.setPen(QtGui.QColor("#cfcfcf"))
        p.drawText(target.right() + 8, y + fm.ascent(), "low → high activation (relative)")
        y += bar_h + 4
    for text, colour in lines:
        p.setPen(QtGui.QColor(colour))
        p.drawText(LEGEND_PAD, y + fm.ascent(), text)
        y += line_h
    p.end()
    return out
