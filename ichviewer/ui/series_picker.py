"""The series list: every image series found in the opened study, one line each."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ichviewer.io import SeriesInfo


def series_line(s: SeriesInfo) -> str:
    """Description, slice count and thickness, e.g. 'Se 2 HEAD 5mm · 32 slices · 5 mm'."""
    num = f"Se {s.series_number} " if s.series_number is not None else ""
    thick = f" · {s.slice_thickness:g} mm" if s.slice_thickness else ""
    tilt = f" · tilt {s.tilt_deg:.1f}°" if abs(s.tilt_deg) >= 0.05 else ""
    return f"{num}{s.description} · {s.n_slices} slices{thick}{tilt}"


class SeriesPanel(QtWidgets.QListWidget):
    """Lists series; a click asks the window to show that series."""

    series_chosen = QtCore.Signal(int)  # index into the list given to set_series

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("series_panel")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemClicked.connect(self._on_item_clicked)
        self.itemActivated.connect(self._on_item_clicked)

    def set_series(self, series: list[SeriesInfo], current: int | None) -> None:
        blocked = self.blockSignals(True)
        try:
            self.clear()
            for s in series:
                item = QtWidgets.QListWidgetItem(series_line(s))
                item.setToolTip(f"{s.modality} · {s.columns} x {s.rows} · sorted by {s.sorted_by}")
                self.addItem(item)
            if current is not None:
                self.setCurrentRow(current)
        finally:
            self.blockSignals(blocked)

    def set_current(self, index: int) -> None:
        blocked = self.blockSignals(True)
        try:
            self.setCurrentRow(index)
        finally:
            self.blockSignals(blocked)

    def _on_item_clicked(self, item: QtWidgets.QListWidgetItem) -> None:
        self.series_chosen.emit(self.row(item))
