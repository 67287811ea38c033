"""The second-read triage list: flagged slices (in anatomical order, or most suspicious first) with
the labels that fired and the reader's mark, under a one-line study summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.core.triage import FlaggedSlice
from ichviewer.ui.ai_style import FLAG_COLOUR, MUTED, SHORT, TITLES, Footer, fmt_p

VERDICT_TEXT = {"agree": "✓ agree", "disagree": "✗ disagree", "unsure": "? unsure"}
VERDICT_COLOUR = {"agree": "#66bb6a", "disagree": "#ef5350", "unsure": "#ffca28"}
COLUMNS = ("Slice", "P", "Labels", "Read")
_LONG = {v: k for k, v in SHORT.items()}


def _names(labels: str) -> list[str]:
    return [_LONG.get(w, w) for w in labels.split()]


class TriagePanel(QtWidgets.QWidget):
    """List of flagged slices; choosing a row shows that slice."""

    slice_chosen = QtCore.Signal(int)
    order_changed = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("triage_panel")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        self.summary = QtWidgets.QLabel("No study open")
        self.summary.setObjectName("triage_summary")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Order"))
        self.order = QtWidgets.QComboBox()
        self.order.setObjectName("triage_order")
        self.order.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.order.addItem("most suspicious first", "probability")
        self.order.addItem("anatomical (by position)", "position")
        row.addWidget(self.order, 1)
        hint = QtWidgets.QLabel("N / Shift+N")
        hint.setStyleSheet(f"color: {MUTED};")
        row.addWidget(hint)
        lay.addLayout(row)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setObjectName("triage_list")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keys stay the window's
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for col in (0, 1, 3):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.tree, 1)
        self.footer = Footer(self)
        lay.addWidget(self.footer)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.order.currentIndexChanged.connect(
            lambda _i: self.order_changed.emit(self.order.currentData())
        )
        self._rows: list[int] = []

    def set_order(self, order: str) -> None:
        """Show ``order`` ("probability" or "position") as chosen, without emitting."""
        with QtCore.QSignalBlocker(self.order):
            self.order.setCurrentIndex(max(self.order.findData(order), 0))

    @property
    def order_name(self) -> str:
        return str(self.order.currentData())

    def set_rows(
        self,
        flagged: Sequence[FlaggedSlice],
        marks: Mapping[int, str | None],
        n_slices: int,
        current: int,
    ) -> None:
        """Rows for ``flagged`` (in their order) then marked slices that are not flagged."""
        self.tree.clear()
        self._rows = []
        flagged_idx = {f.index for f in flagged}
        entries = [
            (f.index, f.score, " ".join(SHORT[lb] for lb in f.labels), True) for f in flagged
        ]
        entries += [
            (i, None, "not flagged", False)
            for i in sorted(marks)
            if i not in flagged_idx and marks[i]
        ]
        width = len(str(n_slices))
        for index, score, labels, hot in entries:
            verdict = marks.get(index)
            item = QtWidgets.QTreeWidgetItem(
                [
                    f"{index + 1:>{width}}",
                    fmt_p(score) if score is not None else "",
                    labels,
                    VERDICT_TEXT.get(verdict or "", ""),
                ]
            )
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, index)
            item.setToolTip(
                2, ", ".join(TITLES.get(k, k) for k in _names(labels)) if hot else labels
            )
            if hot:
                item.setForeground(1, QtGui.QBrush(QtGui.QColor(FLAG_COLOUR)))
            else:
                for col in range(3):
                    item.setForeground(col, QtGui.QBrush(QtGui.QColor(MUTED)))
            if verdict:
                item.setForeground(3, QtGui.QBrush(QtGui.QColor(VERDICT_COLOUR[verdict])))
            self.tree.addTopLevelItem(item)
            self._rows.append(index)
        self.set_current(current)

    def set_summary(self, text: str) -> None:
        self.summary.setText(text)

    def set_current(self, index: int) -> None:
        """Select the row of slice ``index`` (none when it is not in the list)."""
        with QtCore.QSignalBlocker(self.tree):
            self.tree.clearSelection()
            if index in self._rows:
                item = self.tree.topLevelItem(self._rows.index(index))
                item.setSelected(True)
                self.tree.scrollToItem(item)

    def rows(self) -> list[int]:
        """Slice indices in list order (what the user sees, top to bottom)."""
        return list(self._rows)

    def row_texts(self) -> list[list[str]]:
        return [
            [self.tree.topLevelItem(r).text(c) for c in range(len(COLUMNS))]
            for r in range(self.tree.topLevelItemCount())
        ]

    def _on_item_clicked(self, item: QtWidgets.QTreeWidgetItem, _col: int) -> None:
        self.slice_chosen.emit(int(item.data(0, QtCore.Qt.ItemDataRole.UserRole)))
