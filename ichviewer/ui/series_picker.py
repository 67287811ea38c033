"""The series list: every image series found in the opened folder, one line each, grouped
under a heading per study (and patient) when there are several."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ichviewer.io import SeriesInfo


def series_line(s: SeriesInfo) -> str:
    """Description, slice count and thickness, e.g. 'Se 2 HEAD 5mm · 32 slices · 5 mm'."""
    num = f"Se {s.series_number} " if s.series_number is not None else ""
    thick = f" · {s.slice_thickness:g} mm" if s.slice_thickness else ""
    tilt = f" · tilt {s.tilt_deg:.1f}°" if abs(s.tilt_deg) >= 0.05 else ""
    return f"{num}{s.description} · {s.n_slices} slices{thick}{tilt}"


def study_groups(series: list[SeriesInfo]) -> list[list[int]]:
    """Indices of ``series`` grouped by patient and study, in first-seen order: a folder
    holding several patients reads as several studies, never as one."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(series):
        groups.setdefault((s.patient_id, s.study_instance_uid), []).append(i)
    return list(groups.values())


def study_line(s: SeriesInfo, number: int, n_series: int, patient: bool) -> str:
    """'Study 2 · 2019-01-01 · HEAD CT · 3 series'; with ``patient`` the name and MRN lead
    (shown only where the patient context is on: the list is on screen, never logged)."""
    date = s.study_date
    parts = [f"Study {number}"]
    if patient and (s.patient_name or s.patient_id):
        name = " ".join(s.patient_name.replace("^", " ").split())
        parts.insert(0, f"{name} ({s.patient_id})" if s.patient_id else name)
    if len(date) == 8 and date.isdigit():
        parts.append(f"{date[:4]}-{date[4:6]}-{date[6:]}")
    if s.study_description:
        parts.append(s.study_description)
    parts.append(f"{n_series} series")
    return " · ".join(parts)


class SeriesPanel(QtWidgets.QListWidget):
    """Lists series, under a heading per study when the folder holds several studies (or
    patients); a click on a series asks the window to show it."""

    series_chosen = QtCore.Signal(int)  # index into the list given to set_series

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("series_panel")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemClicked.connect(self._on_item_clicked)
        self.itemActivated.connect(self._on_item_clicked)
        self._rows: dict[int, int] = {}  # series index -> row
        self.n_studies = 0
        self.show_patient = False

    def set_series(self, series: list[SeriesInfo], current: int | None) -> None:
        blocked = self.blockSignals(True)
        try:
            self.clear()
            self._rows = {}
            groups = study_groups(series)
            self.n_studies = len(groups)
            for number, group in enumerate(groups, 1):
                if len(groups) > 1:
                    first = series[group[0]]
                    head = QtWidgets.QListWidgetItem(
                        study_line(first, number, len(group), self.show_patient)
                    )
                    head.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)  # not selectable
                    font = head.font()
                    font.setBold(True)
                    head.setFont(font)
                    self.addItem(head)
                for i in group:
                    s = series[i]
                    indent = "    " if len(groups) > 1 else ""
                    item = QtWidgets.QListWidgetItem(indent + series_line(s))
                    item.setData(QtCore.Qt.ItemDataRole.UserRole, i)
                    item.setToolTip(
                        f"{s.modality} · {s.columns} x {s.rows} · sorted by {s.sorted_by}"
                    )
                    self._rows[i] = self.count()
                    self.addItem(item)
            if current is not None:
                self.setCurrentRow(self._rows.get(current, -1))
        finally:
            self.blockSignals(blocked)

    def set_current(self, index: int) -> None:
        blocked = self.blockSignals(True)
        try:
            self.setCurrentRow(self._rows.get(index, -1))
        finally:
            self.blockSignals(blocked)

    def series_rows(self) -> list[QtWidgets.QListWidgetItem]:
        """The series items (not the study headings), top to bottom."""
        return [self.item(r) for r in sorted(self._rows.values())]

    def headings(self) -> list[str]:
        """The study headings (none when the folder holds one study)."""
        rows = set(self._rows.values())
        return [self.item(r).text() for r in range(self.count()) if r not in rows]

    def _on_item_clicked(self, item: QtWidgets.QListWidgetItem) -> None:
        index = item.data(QtCore.Qt.ItemDataRole.UserRole)
        if index is not None:
            self.series_chosen.emit(int(index))
