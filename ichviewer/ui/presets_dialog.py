"""Dialogs of the window tools: typed window / level, and Settings with its "Window presets"
page (add, edit, delete the user's presets; built-in and site presets are listed, and a user
preset of the same name overrides one) and its "PACS nodes" page."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ichviewer.core.presets import MAX_NAME_LENGTH, Preset, PresetTable
from ichviewer.ui.display import LEVEL_RANGE, WIDTH_RANGE
from ichviewer.ui.list_editor import ListEditorPage
from ichviewer.ui.pacs_dialogs import PacsNodesPage
from ichviewer.ui.settings import ViewerSettings

COLUMNS = ("Name", "Level (HU)", "Width (HU)", "From")


def _spin(lo: float, hi: float, value: float, name: str) -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setObjectName(name)
    box.setDecimals(0)
    box.setRange(lo, hi)
    box.setValue(value)
    box.setSuffix(" HU")
    return box


class WindowDialog(QtWidgets.QDialog):
    """Level and width typed in; the spin boxes keep them in range (width >= 1 HU)."""

    def __init__(self, level: float, width: float, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Window / level")
        self.setObjectName("window_dialog")
        self.level = _spin(*LEVEL_RANGE, level, "level_spin")
        self.width_ = _spin(*WIDTH_RANGE, width, "width_spin")
        form = QtWidgets.QFormLayout(self)
        form.addRow("Level (centre)", self.level)
        form.addRow("Width", self.width_)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.level.setFocus()
        self.level.selectAll()

    def values(self) -> tuple[float, float]:
        return self.level.value(), self.width_.value()


class PresetsPage(ListEditorPage):
    """The merged preset table; the user's own rows can be edited and deleted."""

    def __init__(self, table: PresetTable, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("presets", "preset", COLUMNS, parent)
        self._table = table
        self.user: list[Preset] = list(table.user)
        self.list.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.name = QtWidgets.QLineEdit()
        self.name.setObjectName("preset_name")
        self.name.setMaxLength(MAX_NAME_LENGTH)
        self.name.setPlaceholderText("e.g. stroke, posterior fossa")
        self.level = _spin(*LEVEL_RANGE, 40, "preset_level")
        self.width_ = _spin(*WIDTH_RANGE, 80, "preset_width")
        self._lay_out(
            (self.name, self.level, self.width_),
            "Your presets are added to the built-in and site presets; one with the same name "
            "replaces it for you. The AI always uses its own windows.",
            buttons_below=False,
        )

    def table(self) -> PresetTable:
        return self._table.with_user(self.user)

    def _fill(self) -> None:
        t = self.table()
        self._show_rows(
            (p.name, f"{p.level:g}", f"{p.width:g}", t.source(p.name)) for p in t.presets()
        )

    def _selected_name(self) -> str | None:
        r = self._selected_row()
        return None if r is None else self.list.item(r, 0).text()

    def _on_selected(self) -> None:
        name = self._selected_name()
        is_user = name is not None and self.table().source(name) == "user"
        self.delete_button.setEnabled(is_user)
        if name is not None:
            p = self.table().get(name)
            self.name.setText(p.name)
            self.level.setValue(p.level)
            self.width_.setValue(p.width)

    def save_entry(self) -> bool:
        """Add the preset in the fields, or replace the user's preset of that name."""
        try:
            p = Preset(self.name.text(), self.level.value(), self.width_.value())
        except ValueError as exc:
            self.error.setText(str(exc))
            return False
        key = p.name.casefold()
        self.user = [q for q in self.user if q.name.casefold() != key] + [p]
        self.error.setText("")
        self._fill()
        return True

    def delete_selected(self) -> None:
        name = self._selected_name()
        if name is None or self.table().source(name) != "user":
            return
        self.user = [q for q in self.user if q.name.casefold() != name.casefold()]
        self._fill()


class SettingsDialog(QtWidgets.QDialog):
    """Settings, one page per subject: window presets and (given ``settings``) PACS nodes,
    which OK keeps in ``settings.pacs_nodes``."""

    def __init__(
        self,
        table: PresetTable,
        parent: QtWidgets.QWidget | None = None,
        settings: ViewerSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self.setWindowTitle("Settings")
        self.setObjectName("settings_dialog")
        self.resize(560, 420)
        self.tabs = QtWidgets.QTabWidget()
        self.presets = PresetsPage(table)
        self.tabs.addTab(self.presets, "Window presets")
        self.pacs: PacsNodesPage | None = None
        if settings is not None:
            from ichviewer.net.cli import site_pacs

            self.pacs = PacsNodesPage(settings.pacs_nodes, site_pacs().nodes)
            self.tabs.addTab(self.pacs, "PACS nodes")
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.tabs)
        lay.addWidget(buttons)
        self.setWindowModality(QtCore.Qt.WindowModality.WindowModal)

    def accept(self) -> None:
        if self.pacs is not None and self._settings is not None:
            self._settings.pacs_nodes = self.pacs.node_dicts()
        super().accept()
