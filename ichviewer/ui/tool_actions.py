"""Menu entries, toolbar buttons and keys of the window tools and the measuring tools:
View > Window (presets, typed W/L, invert, flip, rotate), Tools (ruler, ROIs, ABC/2, Esc)
and File > Settings. Built after :func:`ichviewer.ui.actions.build_actions`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtGui, QtWidgets

from ichviewer.ui.actions import _action
from ichviewer.ui.parts.measure import TOOLS

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow


def build_tool_actions(win: MainWindow) -> dict[str, QtGui.QAction]:
    """Create the actions on ``win.windows`` and ``win.measure``; returns them by key."""
    acts, windows, measure = win.actions_, win.windows, win.measure
    made: dict[str, QtGui.QAction] = {}
    m_view = acts.view_menu
    first = m_view.actions()[0] if m_view.actions() else None
    m_win = QtWidgets.QMenu("&Window", win)
    m_view.insertMenu(first, m_win)
    m_view.insertSeparator(first)
    m_win.addMenu(windows.presets_menu)
    for key, text, slot, sc in (
        ("window_level", "Window / &level… (W)", windows.choose_window, "W"),
        ("flip_h", "Flip &horizontal", lambda: windows.flip(True), "Ctrl+Shift+H"),
        ("flip_v", "Flip &vertical", lambda: windows.flip(False), "Ctrl+Shift+V"),
        ("rotate_cw", "Rotate 90° &clockwise", lambda: windows.rotate(1), "Ctrl+R"),
        ("rotate_ccw", "Rotate 90° &anticlockwise", lambda: windows.rotate(-1), "Ctrl+Shift+R"),
        ("reset_orientation", "&Original orientation", windows.reset_orientation, None),
    ):
        made[key] = _action(win, acts, key, text, slot, sc)
        m_win.addAction(made[key])
        if key == "window_level":
            made["invert"] = _action(
                win, acts, "invert", "&Invert (I)", windows.set_invert, "I", checkable=True
            )
            m_win.addAction(made["invert"])
            m_win.addSeparator()
    windows.invert_action = made["invert"]
    made["invert"].setChecked(win.state.display.invert)

    m_tools = QtWidgets.QMenu("&Tools", win)
    win.menuBar().insertMenu(win.menuBar().actions()[-1], m_tools)  # before Help
    tb = win.findChild(QtWidgets.QToolBar, "display_toolbar")
    if tb is not None:
        tb.addSeparator()
    for name, (text, key, tip) in TOOLS.items():
        a = _action(
            win,
            acts,
            f"tool_{name}",
            f"{text} ({key})",
            lambda on, n=name: measure.toggle_tool(n, on),
            key,
            checkable=True,
            tip=f"{tip} ({key}; Esc leaves the tool)",
        )
        a.setIconText(text.replace("&", "").split(" ")[0])  # short on the toolbar
        measure.tool_actions[name] = a
        made[f"tool_{name}"] = a
        m_tools.addAction(a)
        if tb is not None:
            tb.addAction(a)
    cancel = _action(win, acts, "tool_cancel", "&Cancel tool (Esc)", measure.cancel, "Esc")
    cancel.setEnabled(False)  # only while a tool is on: Esc stays free for everyone else
    measure.cancel_action = cancel
    made["tool_cancel"] = cancel
    m_tools.addAction(cancel)
    m_tools.addSeparator()
    m_tools.addAction(measure.dock.toggleViewAction())

    m_file = win.menuBar().actions()[0].menu()
    quit_action = acts.all["quit"]
    made["settings"] = _action(
        win,
        acts,
        "settings",
        "&Settings…",
        windows.open_settings,
        QtGui.QKeySequence.StandardKey.Preferences,
    )
    m_file.insertAction(quit_action, made["settings"])
    m_file.insertSeparator(quit_action)
    return made
