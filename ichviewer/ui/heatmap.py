"""Heatmap controls (on/off, which label, opacity, colour map, colour bar) and the helpers
that turn a slice's CAMs into the image view's overlay."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.core.heatmap import COLORMAPS, DEFAULT_LOW, cam_to_rgba, colorbar
from ichviewer.core.labels import LABELS
from ichviewer.ui.ai_style import MUTED, TITLES

AUTO = ""  # combo data of "the highest-probability label on this slice"
#: Opacity multiplier where the label's probability is below its threshold: the map is
#: still there for the curious reader, but does not look like a finding.
BELOW_THRESHOLD_GAIN = 0.4


def auto_label(probabilities: np.ndarray | None) -> str:
    """The label with the highest probability on a slice ("any" when nothing is known)."""
    if probabilities is None:
        return "any"
    return LABELS[int(np.argmax(probabilities))]


def qimage_from_rgb(rgb: np.ndarray) -> QtGui.QImage:
    """A deep-copied QImage of an (H, W, 3) uint8 array."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = a.shape[:2]
    return QtGui.QImage(a.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()


def overlay_for(
    cam: np.ndarray, *, colormap: str, opacity: float, below_threshold: bool
) -> np.ndarray:
    """The RGBA layer of one label's map; fainter when the label did not fire."""
    gain = BELOW_THRESHOLD_GAIN if below_threshold else 1.0
    return cam_to_rgba(cam, colormap=colormap, opacity=opacity * gain)


class HeatmapControls(QtWidgets.QWidget):
    """Heatmap toggle (H), label, opacity and colour map, with a colour bar and one line
    saying what is drawn."""

    toggled = QtCore.Signal(bool)
    changed = QtCore.Signal()  # label, opacity or colour map

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("heatmap_controls")
        lay = QtWidgets.QGridLayout(self)
        lay.setContentsMargins(6, 2, 6, 6)
        lay.setVerticalSpacing(4)
        self.check = QtWidgets.QCheckBox("Heatmap (H)")
        self.check.setObjectName("heatmap_check")
        self.check.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.check.setToolTip("Class activation map: where the network looked (H)")
        self.label_combo = QtWidgets.QComboBox()
        self.label_combo.setObjectName("heatmap_label")
        self.label_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.label_combo.addItem("Auto (highest)", AUTO)
        for lb in LABELS:
            self.label_combo.addItem(TITLES[lb], lb)
        self.opacity = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity.setObjectName("heatmap_opacity")
        self.opacity.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.opacity.setRange(10, 100)
        self.opacity.setValue(60)
        self.opacity.setToolTip("Heatmap opacity")
        self.cmap_combo = QtWidgets.QComboBox()
        self.cmap_combo.setObjectName("heatmap_colormap")
        self.cmap_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.cmap_combo.addItems(list(COLORMAPS))
        self.bar = QtWidgets.QLabel()
        self.bar.setObjectName("heatmap_colorbar")
        self.bar.setFixedHeight(10)
        self.bar.setScaledContents(True)
        ends = QtWidgets.QHBoxLayout()
        for text in (f"< {DEFAULT_LOW:.0%} of peak: clear", "peak"):
            lab = QtWidgets.QLabel(text)
            lab.setStyleSheet(f"color: {MUTED}; font-size: 10px;")
            ends.addWidget(lab)
            ends.addStretch(1)
        ends.takeAt(ends.count() - 1)
        self.info = QtWidgets.QLabel("")
        self.info.setObjectName("heatmap_info")
        self.info.setWordWrap(True)
        self.info.setStyleSheet(f"color: {MUTED};")
        self.cmap_combo.setToolTip("Colour map")
        lay.addWidget(self.check, 0, 0)
        lay.addWidget(self.label_combo, 0, 1, 1, 2)
        lay.addWidget(self.opacity, 1, 0, 1, 2)
        lay.addWidget(self.cmap_combo, 1, 2)
        lay.addWidget(self.bar, 2, 0, 1, 3)
        lay.addLayout(ends, 3, 0, 1, 3)
        lay.addWidget(self.info, 4, 0, 1, 3)
        lay.setColumnStretch(1, 1)
        self.check.toggled.connect(self.toggled)
        self.label_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.opacity.valueChanged.connect(lambda _v: self.changed.emit())
        self.cmap_combo.currentTextChanged.connect(self._on_colormap)
        self._on_colormap(self.cmap_combo.currentText())

    @property
    def chosen_label(self) -> str:
        """A label, or AUTO."""
        return str(self.label_combo.currentData())

    def set_label(self, label: str) -> None:
        i = self.label_combo.findData(label)
        if i >= 0:
            self.label_combo.setCurrentIndex(i)

    @property
    def colormap(self) -> str:
        return self.cmap_combo.currentText()

    def set_colormap(self, name: str) -> None:
        if name in COLORMAPS:
            self.cmap_combo.setCurrentText(name)

    def set_checked(self, on: bool) -> None:
        with QtCore.QSignalBlocker(self.check):
            self.check.setChecked(on)

    def set_auto_text(self, label: str) -> None:
        """Show which label Auto stands for on this slice."""
        self.label_combo.setItemText(0, f"Auto ({TITLES[label]})")

    def _on_colormap(self, name: str) -> None:
        pix = QtGui.QPixmap.fromImage(qimage_from_rgb(colorbar(name, 256, 4)))
        self.bar.setPixmap(pix)
        self.changed.emit()
