"""The AI's menu entries and keys: File (worklist, model, exports), the AI menu (scoring,
heatmap H, flagged slices N / Shift+N / P, marks A / D / U, model information) and the
docks in View. Built after :func:`ichviewer.ui.actions.build_actions`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6 import QtGui, QtWidgets

from ichviewer.site_config import effective_auto_score
from ichviewer.ui.actions import _action

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow


@dataclass
class AIActions:
    heatmap: QtGui.QAction
    autoscore: QtGui.QAction
    menu: QtWidgets.QMenu


def _file_menu(win: MainWindow) -> QtWidgets.QMenu:
    return win.menuBar().actions()[0].menu()


def build_ai_actions(win: MainWindow) -> AIActions:
    """The AI's actions on the window's parts' methods; the docks' toggles in View."""
    acts = win.actions_
    panels, review, heatmap = win.ai_panels, win.review, win.heatmap
    m_file = _file_menu(win)
    quit_action = acts.all["quit"]
    for key, text, slot, sc in (
        ("open_worklist", "Open &worklist…", win.worklist.choose, None),
        ("load_model", "Load &model…", win.model.choose_model, None),
        ("export_results", "&Export results…", win.exports.choose_export_results, "Ctrl+E"),
        ("export_view", "Export &view as PNG…", win.exports.choose_export_view, "Ctrl+Shift+E"),
    ):
        m_file.insertAction(quit_action, _action(win, acts, key, text, slot, sc))
    m_file.insertSeparator(quit_action)

    help_action = win.menuBar().actions()[-1]
    m_ai = QtWidgets.QMenu("&AI", win)
    win.menuBar().insertMenu(help_action, m_ai)
    m_ai.addAction(_action(win, acts, "score", "&Score this study", panels.score_study, "Ctrl+I"))
    autoscore = _action(
        win,
        acts,
        "autoscore",
        "Score studies &automatically when opened",
        panels.set_autoscore,
        checkable=True,
    )
    site = win.ai.site
    autoscore.setChecked(effective_auto_score(win.settings.ai_autoscore, site))
    if site.auto_score is not None:  # the reading room decides; the user's choice is kept
        autoscore.setEnabled(False)
        autoscore.setToolTip(f"Set for this workstation by {site.source}")
    m_ai.addAction(autoscore)
    m_ai.addSeparator()
    heatmap_action = _action(
        win, acts, "heatmap", "&Heatmap (H)", heatmap.set_on, "H", checkable=True
    )
    heatmap.action = heatmap_action
    m_ai.addAction(heatmap_action)
    m_ai.addAction(
        _action(win, acts, "next_flagged", "&Next flagged slice (N)", panels.next_flagged, "N")
    )
    prev = _action(
        win, acts, "prev_flagged", "&Previous flagged slice (Shift+N, P)", panels.previous_flagged
    )
    prev.setShortcuts([QtGui.QKeySequence("Shift+N"), QtGui.QKeySequence("P")])
    m_ai.addAction(prev)
    m_ai.addSeparator()
    for verdict, key in (("agree", "A"), ("disagree", "D"), ("unsure", "U")):
        m_ai.addAction(
            _action(
                win,
                acts,
                f"mark_{verdict}",
                f"Mark: {verdict} with the AI ({key})",
                lambda v=verdict: review.mark_current(v),
                key,
            )
        )
    m_ai.addAction(
        _action(win, acts, "mark_clear", "Clear the mark", lambda: review.mark_current(None))
    )
    m_ai.addSeparator()
    m_ai.addAction(
        _action(win, acts, "model_info", "&Model information…", win.model.show_model_panel)
    )
    m_ai.addAction(acts.all["load_model"])

    acts.view_menu.addSeparator()
    for dock in (win.ai_dock, win.triage_dock, win.profile_dock, win.worklist.dock):
        acts.view_menu.addAction(dock.toggleViewAction())
    return AIActions(heatmap=heatmap_action, autoscore=autoscore, menu=m_ai)
