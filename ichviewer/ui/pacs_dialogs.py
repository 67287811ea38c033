"""Dialogs of the PACS part: File > Listen for studies (port, AE title, store folder, settle
time), File > Query/Retrieve (node, patient ID, dates, modality; a table of matches) and the
Settings page of PACS nodes (the user's, editable; the site file's, read-only).

Widgets only: the part (:mod:`ichviewer.ui.parts.pacs`) runs the network work. Patient names
and IDs of the matches are shown in the table and never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from ichviewer.errors import IchViewerError
from ichviewer.net.nodes import RETRIEVE_METHODS, PacsNode, check_aet
from ichviewer.ui.list_editor import ListEditorPage

_Buttons = QtWidgets.QDialogButtonBox.StandardButton
NODE_COLUMNS = ("Name", "AE title", "Host", "Port", "Retrieve", "From")
MATCH_COLUMNS = ("Patient", "Patient ID", "Date", "Description", "Modalities", "Images")


def _ok_cancel(dlg: QtWidgets.QDialog) -> QtWidgets.QDialogButtonBox:
    buttons = QtWidgets.QDialogButtonBox(_Buttons.Ok | _Buttons.Cancel)
    buttons.accepted.connect(dlg.accept)
    buttons.rejected.connect(dlg.reject)
    return buttons


def _cell(text: str) -> QtWidgets.QTableWidgetItem:
    it = QtWidgets.QTableWidgetItem(text)
    it.setFlags(it.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
    return it


def looks_like_study(folder: Path) -> bool:
    """True when ``folder`` itself holds DICOM files (a study: never a store or output)."""
    if not folder.is_dir():
        return False
    for p in list(folder.iterdir())[:200]:
        if p.is_file() and not p.name.startswith("."):
            try:
                with open(p, "rb") as f:
                    if p.suffix.lower() == ".dcm" or f.read(132)[128:] == b"DICM":
                        return True
            except OSError:
                continue
    return False


class ListenDialog(QtWidgets.QDialog):
    """Where and how File > Listen for studies receives: port, AE title, store folder (under
    the app's data folder by default, never a study folder), scoring and settle time."""

    def __init__(
        self, port: int, aet: str, store: Path, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Listen for studies")
        self.setObjectName("listen_dialog")
        self.port = QtWidgets.QSpinBox()
        self.port.setObjectName("listen_port")
        self.port.setRange(1, 65535)
        self.port.setValue(port)
        self.aet = QtWidgets.QLineEdit(aet)
        self.aet.setObjectName("listen_aet")
        self.aet.setMaxLength(16)
        self.store = QtWidgets.QLineEdit(str(store))
        self.store.setObjectName("listen_store")
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.store, 1)
        row.addWidget(browse)
        self.score = QtWidgets.QCheckBox("Score each study once it is complete")
        self.score.setObjectName("listen_score")
        self.score.setChecked(True)
        self.settle = QtWidgets.QDoubleSpinBox()
        self.settle.setObjectName("listen_settle")
        self.settle.setRange(0.5, 600.0)
        self.settle.setValue(10.0)
        self.settle.setSuffix(" s")
        self.settle.setToolTip("A study counts as complete after this long without a new image")
        self.error = QtWidgets.QLabel("")
        self.error.setObjectName("listen_error")
        self.error.setStyleSheet("color: #ff8080;")
        self.error.setWordWrap(True)
        form = QtWidgets.QFormLayout(self)
        form.addRow("Port", self.port)
        form.addRow("Our AE title", self.aet)
        form.addRow("Store in", row)
        form.addRow("", self.score)
        form.addRow("Complete after", self.settle)
        form.addRow(self.error)
        form.addRow(_ok_cancel(self))

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Store received studies in")
        if d:
            self.store.setText(d)

    def values(self) -> dict[str, Any]:
        """The choices; IchViewerError when one is wrong (the dialog stays open)."""
        store = Path(self.store.text().strip()).expanduser()
        if not self.store.text().strip():
            raise IchViewerError("choose a folder to store received studies in")
        if looks_like_study(store):
            raise IchViewerError(
                f"{store} holds DICOM files: received studies go to a folder of their own"
            )
        return {
            "port": self.port.value(),
            "aet": check_aet(self.aet.text(), "our AE title"),
            "store": store,
            "score": self.score.isChecked(),
            "settle_s": self.settle.value(),
        }

    def accept(self) -> None:
        try:
            self.values()
        except IchViewerError as exc:
            self.error.setText(str(exc))
            return
        super().accept()


class QueryDialog(QtWidgets.QDialog):
    """Find studies on a node (C-FIND) and retrieve one; the part runs both."""

    def __init__(
        self, nodes: Sequence[PacsNode], aet: str, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Query / Retrieve")
        self.setObjectName("query_dialog")
        self.resize(760, 460)
        self.nodes = list(nodes)
        self.node = QtWidgets.QComboBox()
        self.node.setObjectName("query_node")
        for n in self.nodes:
            self.node.addItem(f"{n.name} ({n}, {'C-MOVE' if n.retrieve == 'move' else 'C-GET'})")
        self.aet = QtWidgets.QLineEdit(aet)
        self.aet.setObjectName("query_aet")
        self.aet.setMaxLength(16)
        self.patient_id = QtWidgets.QLineEdit()
        self.patient_id.setObjectName("query_patient_id")
        self.patient_id.setPlaceholderText("any (wildcards * ?)")
        self.date_from = QtWidgets.QLineEdit()
        self.date_from.setObjectName("query_date_from")
        self.date_to = QtWidgets.QLineEdit()
        self.date_to.setObjectName("query_date_to")
        for w in (self.date_from, self.date_to):
            w.setPlaceholderText("YYYY-MM-DD")
        self.modality = QtWidgets.QLineEdit("CT")
        self.modality.setObjectName("query_modality")
        self.find_button = QtWidgets.QPushButton("Find")
        self.find_button.setObjectName("query_find")
        self.find_button.setDefault(True)
        self.table = QtWidgets.QTableWidget(0, len(MATCH_COLUMNS))
        self.table.setObjectName("query_table")
        self.table.setHorizontalHeaderLabels(list(MATCH_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.retrieve_button = QtWidgets.QPushButton("Retrieve and open")
        self.retrieve_button.setObjectName("query_retrieve")
        self.retrieve_button.setEnabled(False)
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("query_status")
        self.status.setWordWrap(True)
        dates = QtWidgets.QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QtWidgets.QLabel("to"))
        dates.addWidget(self.date_to)
        form = QtWidgets.QFormLayout()
        form.addRow("PACS", self.node)
        form.addRow("Our AE title", self.aet)
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.retrieve_button)
        close = QtWidgets.QDialogButtonBox(_Buttons.Close)
        close.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.find_button, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        lay.addWidget(self.table, 1)
        lay.addLayout(bottom)
        lay.addWidget(close)
        self.matches: list[Any] = []
        self.table.itemSelectionChanged.connect(
            lambda: self.retrieve_button.setEnabled(self.selected() is not None)
        )

    def current_node(self) -> PacsNode | None:
        i = self.node.currentIndex()
        return self.nodes[i] if 0 <= i < len(self.nodes) else None

    def query(self) -> dict[str, str]:
        return {
            "patient_id": self.patient_id.text().strip(),
            "date_from": self.date_from.text().strip(),
            "date_to": self.date_to.text().strip(),
            "modality": self.modality.text().strip().upper(),
        }

    def show_matches(self, matches: Sequence[Any]) -> None:
        """The C-FIND matches (StudyMatch), one row each."""
        self.matches = list(matches)
        self.table.setRowCount(0)
        for m in self.matches:
            r = self.table.rowCount()
            self.table.insertRow(r)
            d = m.study_date
            date = f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 else d
            texts = (
                m.patient_name.replace("^", " ").strip(),
                m.patient_id,
                date,
                m.study_description,
                "/".join(m.modalities),
                "" if m.n_instances is None else str(m.n_instances),
            )
            for c, text in enumerate(texts):
                self.table.setItem(r, c, _cell(text))
        self.table.resizeColumnsToContents()
        n = len(self.matches)
        self.status.setText(f"{n} stud{'y' if n == 1 else 'ies'} found")
        if n:
            self.table.selectRow(0)

    def selected(self) -> Any | None:
        rows = self.table.selectionModel().selectedRows()
        return self.matches[rows[0].row()] if rows and self.matches else None


class PacsNodesPage(ListEditorPage):
    """Settings > PACS nodes: the site file's nodes (read-only) and the user's own."""

    def __init__(
        self,
        user: Sequence[dict[str, Any]],
        site: Sequence[PacsNode],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__("pacs", "pacs", NODE_COLUMNS, parent)
        self.site = list(site)
        self.user: list[PacsNode] = []
        for d in user:
            try:
                self.user.append(PacsNode.from_dict(d))
            except IchViewerError:
                continue  # load_settings warned about it already
        self.name = QtWidgets.QLineEdit()
        self.name.setObjectName("pacs_name")
        self.name.setPlaceholderText("name")
        self.aet = QtWidgets.QLineEdit()
        self.aet.setObjectName("pacs_aet")
        self.aet.setPlaceholderText("AE title")
        self.aet.setMaxLength(16)
        self.host = QtWidgets.QLineEdit()
        self.host.setObjectName("pacs_host")
        self.host.setPlaceholderText("host")
        self.port = QtWidgets.QSpinBox()
        self.port.setObjectName("pacs_port")
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.retrieve = QtWidgets.QComboBox()
        self.retrieve.setObjectName("pacs_retrieve")
        self.retrieve.addItems(list(RETRIEVE_METHODS))
        self._lay_out(
            (self.name, self.aet, self.host, self.port, self.retrieve),
            "Nodes from the site file are set for this workstation and cannot be changed here. "
            "retrieve: get (C-GET) or move (C-MOVE to File > Listen for studies).",
            buttons_below=True,
        )

    def _rows(self) -> list[tuple[PacsNode, str]]:
        return [(n, "site") for n in self.site] + [(n, "user") for n in self.user]

    def _fill(self) -> None:
        self._show_rows(
            ((n.name, n.aet, n.host, str(n.port), n.retrieve, src) for n, src in self._rows()),
            _cell,
        )

    def _selected(self) -> tuple[PacsNode, str] | None:
        r = self._selected_row()
        return None if r is None else self._rows()[r]

    def _on_selected(self) -> None:
        sel = self._selected()
        self.delete_button.setEnabled(sel is not None and sel[1] == "user")
        if sel is not None:
            n = sel[0]
            self.name.setText(n.name)
            self.aet.setText(n.aet)
            self.host.setText(n.host)
            self.port.setValue(n.port)
            self.retrieve.setCurrentText(n.retrieve)

    def save_entry(self) -> bool:
        """Add the node in the fields, or replace the user's node of that name."""
        try:
            node = PacsNode(
                aet=self.aet.text(),
                host=self.host.text().strip(),
                port=self.port.value(),
                name=self.name.text().strip() or self.aet.text().strip(),
                retrieve=self.retrieve.currentText(),
            )
        except IchViewerError as exc:
            self.error.setText(str(exc))
            return False
        if any(n.name == node.name for n in self.site):
            self.error.setText(f"{node.name!r} is a site node: choose another name")
            return False
        self.user = [n for n in self.user if n.name != node.name] + [node]
        self.error.setText("")
        self._fill()
        return True

    def delete_selected(self) -> None:
        sel = self._selected()
        if sel is not None and sel[1] == "user":
            self.user = [n for n in self.user if n.name != sel[0].name]
            self._fill()

    def node_dicts(self) -> list[dict[str, Any]]:
        """The user's nodes as ViewerSettings.pacs_nodes keeps them."""
        return [n.to_dict() for n in self.user]
