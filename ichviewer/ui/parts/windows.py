"""Window tools: the preset table (built-in, site, user), typed window / level, invert, flip
and rotate of the view, and the Settings dialog where the user edits presets. Changes go
through the state's display; the image part follows it (table, view matrix, markers)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6 import QtGui, QtWidgets

from ichviewer.core.presets import PresetTable
from ichviewer.site_config import load_site_config
from ichviewer.ui.display import DisplayState
from ichviewer.ui.parts.common import StatusBar
from ichviewer.ui.presets_dialog import SettingsDialog, WindowDialog
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import ViewerState

logger = logging.getLogger("ichviewer.ui")


def preset_table(settings: ViewerSettings) -> PresetTable:
    """Built-in presets, the site file's, and the user's (a bad layer is left out)."""
    site = load_site_config().presets
    try:
        return PresetTable(site=site, user=settings.user_presets)
    except ValueError as exc:  # a hand-edited settings file; load_settings checked the rest
        logger.warning("user window presets ignored: %s", exc)
        return PresetTable(site=site)


def initial_display(settings: ViewerSettings) -> DisplayState:
    """The display a window starts with: the last preset (brain if it is gone) and mode."""
    d = DisplayState(presets=preset_table(settings))
    try:
        d = d.with_preset(settings.preset)
    except ValueError:
        d = d.with_preset("brain")
    return d.with_mode(settings.mode)


class WindowToolsPart:
    """Owns the preset table's menu and the window dialogs; changes the state's display."""

    def __init__(
        self, win: QtWidgets.QMainWindow, state: ViewerState, settings: ViewerSettings
    ) -> None:
        self.win, self.state, self.settings = win, state, settings
        self.status = StatusBar(win)
        self.presets_menu = QtWidgets.QMenu("Window &presets", win)
        self.presets_menu.setObjectName("presets_menu")
        self._preset_actions: dict[str, QtGui.QAction] = {}
        self.invert_action: QtGui.QAction | None = None  # set by the window's actions
        self.dialog: QtWidgets.QDialog | None = None  # the dialog open now (tests drive it)
        state.display_changed.connect(self._on_display)
        self._fill_menu()

    @property
    def table(self) -> PresetTable:
        return self.state.display.presets

    # -- following the state ---------------------------------------------------------------

    def _on_display(self) -> None:
        d = self.state.display
        if set(self._preset_actions) != set(self.table.names()):
            self._fill_menu()
        for name, act in self._preset_actions.items():
            act.blockSignals(True)
            act.setChecked(name == d.preset)
            act.blockSignals(False)
        if self.invert_action is not None:
            self.invert_action.blockSignals(True)
            self.invert_action.setChecked(d.invert)
            self.invert_action.blockSignals(False)

    def _fill_menu(self) -> None:
        """View > Window presets: every preset of the table, checked when on screen."""
        self.presets_menu.clear()
        self._preset_actions = {}
        for p in self.table.presets():
            src = self.table.source(p.name)
            where = "" if src == "builtin" else f" ({src})"
            a = self.presets_menu.addAction(f"{p.name}  {p.level:g}/{p.width:g}{where}")
            a.setCheckable(True)
            a.setChecked(p.name == self.state.display.preset)
            a.triggered.connect(lambda _c=False, n=p.name: self.apply_preset(n))
            self._preset_actions[p.name] = a
        self.presets_menu.addSeparator()
        edit = self.presets_menu.addAction("Edit presets…")
        edit.triggered.connect(lambda _c=False: self.open_settings())

    # -- user actions ----------------------------------------------------------------------

    def apply_preset(self, name: str) -> None:
        """Any preset of the table (any case), or rgb."""
        try:
            self.state.set_display(self.state.display.with_preset(name))
        except ValueError as exc:
            self.status.say(str(exc))

    def set_window(self, level: float, width: float) -> None:
        """Typed window: width must be > 0 (ValueError otherwise); clipped to the ranges."""
        if not width > 0:
            raise ValueError(f"Window width must be greater than 0, got {width:g}")
        self.state.set_display(self.state.display.with_window(level, width))

    def choose_window(self) -> None:
        """Window / level… (W): type the level and width."""
        w = self.state.display.window
        dlg = WindowDialog(w.level, w.width, self.win)
        self._run(dlg, lambda: self.set_window(*dlg.values()))

    def set_invert(self, on: bool) -> None:
        self.state.set_display(self.state.display.with_invert(on))

    def toggle_invert(self) -> None:
        self.set_invert(not self.state.display.invert)

    def flip(self, horizontal: bool) -> None:
        self.state.set_display(self.state.display.flipped(horizontal))

    def rotate(self, quarter_turns: int = 1) -> None:
        self.state.set_display(self.state.display.rotated(quarter_turns))

    def reset_orientation(self) -> None:
        self.state.set_display(self.state.display.with_orientation_reset())

    def open_settings(self) -> None:
        """Settings: the Window presets page; OK keeps the user's presets (saved on exit)."""
        dlg = SettingsDialog(self.table, self.win, settings=self.settings)
        self._run(dlg, lambda: self.set_user_presets(dlg.presets.table()))

    def set_user_presets(self, table: PresetTable) -> None:
        self.settings.user_presets = list(table.user)
        self.state.set_display(self.state.display.with_presets(table))
        self._fill_menu()
        n = len(table.user)
        self.status.say(f"{n} preset{'s' * (n != 1)} of your own")

    def _run(self, dlg: QtWidgets.QDialog, on_ok: Callable[[], None]) -> None:
        """Show ``dlg`` without blocking (tests reach it as ``self.dialog``)."""
        self.dialog = dlg

        def finished(result: int) -> None:
            self.dialog = None
            if result == QtWidgets.QDialog.DialogCode.Accepted:
                try:
                    on_ok()
                except ValueError as exc:
                    self.status.say(str(exc))
            dlg.deleteLater()

        dlg.finished.connect(finished)
        dlg.open()
