"""An ImageItem for HU slices whose window is a 32-bit colour table.

Per slice the float HU are turned once into table indices with
:func:`ichviewer.core.windowing.lut_indices` (the same rounding as ``apply_lut``); a window
change then costs one table lookup per pixel and no float maths. The table entries are
0xFFRRGGBB, so the QImage is Format_RGB32, which Qt's raster painter scales about three
times faster than the Grayscale8 images pyqtgraph makes from a grey table.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from ichviewer.core.windowing import LUT_HU_MIN, lut_indices


def pack_rgb32(lut: np.ndarray) -> np.ndarray:
    """uint8 table (N,) grey or (N, 3) RGB -> (N,) uint32 0xFFRRGGBB."""
    t = np.asarray(lut, dtype=np.uint32)
    if t.ndim == 1:
        r = g = b = t
    else:
        r, g, b = t[:, 0], t[:, 1], t[:, 2]
    return np.uint32(0xFF000000) | (r << 16) | (g << 8) | b


class HUImageItem(pg.ImageItem):
    """Shows an (H, W) float HU slice through a window table; never writes the slice."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self._indices: np.ndarray | None = None
        self._table: np.ndarray | None = None
        self._grey = True
        self._pixels: np.ndarray | None = None  # keeps the QImage's buffer alive

    def set_hu(self, hu: np.ndarray) -> None:
        """A new slice (float HU). Levels are unused here but keep pyqtgraph from scanning
        the data for them."""
        self._indices = lut_indices(hu, LUT_HU_MIN).astype(np.uint16)
        self.setImage(hu, autoLevels=False, levels=(LUT_HU_MIN, LUT_HU_MIN + 1))

    def set_table(self, lut: np.ndarray) -> None:
        """A window table from :func:`ichviewer.core.windowing.window_lut` ((N,) grey) or
        stacked tables ((N, 3), the RGB composite)."""
        self._grey = np.asarray(lut).ndim == 1
        self._table = pack_rgb32(lut)
        self._renderRequired = True  # pyqtgraph's flag: render again on the next paint
        self.update()

    @property
    def is_grey(self) -> bool:
        return self._grey

    def clear(self) -> None:
        self._indices = None
        self._pixels = None
        super().clear()

    def render(self) -> None:
        if self._indices is None or self._table is None or self.image is None:
            super().render()
            return
        pixels = np.take(self._table, self._indices)
        h, w = pixels.shape
        self._pixels = pixels
        self.qimage = QtGui.QImage(pixels.data, w, h, w * 4, QtGui.QImage.Format.Format_RGB32)
        self._renderRequired = False
        self._unrenderable = False
