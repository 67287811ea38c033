"""The layout the Settings pages that edit a list share (window presets, PACS nodes): a table
of the entries, a row of fields, "Add / update" and "Delete" buttons, an error line and a
note. A page builds its fields, lays them out with :meth:`ListEditorPage._lay_out` and says
how the table is filled, what a selection shows, and how an entry is saved and deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from PySide6 import QtWidgets


class ListEditorPage(QtWidgets.QWidget):
    """A table (``list``) of entries and the widgets that edit them: ``save_button``,
    ``delete_button`` and ``error``. Object names: ``<page>_page``, ``<page>_table``,
    ``<entry>_save``, ``<entry>_delete``, ``<entry>_error``."""

    def __init__(
        self,
        page: str,
        entry: str,
        columns: Sequence[str],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(f"{page}_page")
        self.list = QtWidgets.QTableWidget(0, len(columns))
        self.list.setObjectName(f"{page}_table")
        self.list.setHorizontalHeaderLabels(list(columns))
        self.list.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.list.verticalHeader().hide()
        self.list.horizontalHeader().setStretchLastSection(True)
        self.save_button = QtWidgets.QPushButton("Add / update")
        self.save_button.setObjectName(f"{entry}_save")
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.delete_button.setObjectName(f"{entry}_delete")
        self.error = QtWidgets.QLabel("")
        self.error.setObjectName(f"{entry}_error")
        self.error.setStyleSheet("color: #ff8080;")

    def _lay_out(
        self, fields: Sequence[QtWidgets.QWidget], note: str, *, buttons_below: bool
    ) -> None:
        """The table, the fields (the buttons after them, or right-aligned on a row of their
        own with ``buttons_below``), the error line and the note; then wire the buttons and
        the selection and fill the table."""
        row = QtWidgets.QHBoxLayout()
        for w in fields:
            row.addWidget(w)
        buttons = QtWidgets.QHBoxLayout() if buttons_below else row
        if buttons_below:
            buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.delete_button)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)
        if buttons_below:
            lay.addLayout(buttons)
        lay.addWidget(self.error)
        label = QtWidgets.QLabel(note)
        label.setWordWrap(True)
        lay.addWidget(label)
        self.save_button.clicked.connect(self.save_entry)
        self.delete_button.clicked.connect(self.delete_selected)
        self.list.itemSelectionChanged.connect(self._on_selected)
        self._fill()

    def _show_rows(
        self,
        rows: Iterable[Sequence[str]],
        item: Callable[[str], QtWidgets.QTableWidgetItem] = QtWidgets.QTableWidgetItem,
    ) -> None:
        """Replace the table's rows (one cell per text, made by ``item``), then show the
        selection."""
        self.list.setRowCount(0)
        for texts in rows:
            r = self.list.rowCount()
            self.list.insertRow(r)
            for c, text in enumerate(texts):
                self.list.setItem(r, c, item(text))
        self._on_selected()

    def _selected_row(self) -> int | None:
        rows = self.list.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    # -- what a page provides -------------------------------------------------------------------
    def _fill(self) -> None:
        """Fill the table (with :meth:`_show_rows`)."""
        raise NotImplementedError

    def _on_selected(self) -> None:
        """Show the selected entry in the fields; enable Delete for an editable one."""
        raise NotImplementedError

    def save_entry(self) -> bool:
        """Add or replace the entry in the fields; False (and ``error`` says why) if wrong."""
        raise NotImplementedError

    def delete_selected(self) -> None:
        raise NotImplementedError
