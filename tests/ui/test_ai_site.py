"""A reading room's site file (ichviewer.site_config) as the reader meets it in the window:
the site's model and thresholds are used, and a site that turns automatic scoring off
wins over the user's setting without changing it."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ichviewer.core.labels import LABELS
from ichviewer.ui.settings import ViewerSettings, load_settings, save_settings, settings_path
from tests.ui.ai_support import ai_study, open_scored, tiny_ckpt, wait_scored

#: Fixtures from ai_support, requested by name.
FIXTURES = (ai_study, tiny_ckpt)

Qt = QtCore.Qt


def test_site_model_and_thresholds_are_used(
    qtbot, make_window, ai_study, tiny_ckpt, tmp_path, site_file
) -> None:  # noqa: ANN001
    site_model = Path(shutil.copy(tiny_ckpt, tmp_path / "site-model.pt"))
    site_file({"model": str(site_model), "thresholds": {"any": 0.0}})
    win = make_window()  # no --model: the site decides
    open_scored(qtbot, win, [ai_study])
    assert Path(win.ai.info.path) == site_model
    assert win.ai.thresholds[LABELS.index("any")] == 0.0
    # Every slice is now flagged for 'any', and the triage list says so.
    assert len(win.flagged) == win.n_slices
    dlg = win.model.show_model_panel()
    text = dlg.findChild(QtWidgets.QTextBrowser, "model_text").toPlainText()
    assert "site config" in text and "any 0.000" in text
    dlg.close()


def test_site_turns_auto_scoring_off_without_touching_user_settings(
    qtbot, make_window, ai_study, tiny_ckpt, site_file
) -> None:  # noqa: ANN001
    assert save_settings(ViewerSettings(ai_autoscore=True), settings_path())
    site = site_file({"auto_score": False})
    win = make_window(model_path=tiny_ckpt)
    action = win.actions_.all["autoscore"]
    assert not action.isChecked() and not action.isEnabled()
    assert str(site) in action.toolTip()
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        win.open_paths([str(ai_study)])
    assert win.ai.runner.wait_until_idle()
    assert win.ai.n_scored == 0 and not win.ai.scoring  # nothing scored until the reader asks
    qtbot.keyClick(win, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    wait_scored(qtbot, win)
    assert win.ai.n_scored == win.n_slices
    win.close()
    assert load_settings()[0].ai_autoscore is True  # the user's own choice is kept


def test_broken_site_file_is_reported_and_the_viewer_works(
    qtbot, make_window, ai_study, tiny_ckpt, tmp_path, monkeypatch
) -> None:  # noqa: ANN001
    path = tmp_path / "site.json"
    path.write_text("{ not json")
    monkeypatch.setenv("ICHVIEWER_SITE_CONFIG", str(path))
    win = make_window(model_path=tiny_ckpt)
    assert "Site config" in win.statusBar().currentMessage()
    assert str(path) in win.statusBar().currentMessage()
    open_scored(qtbot, win, [ai_study])
    assert win.ai.n_scored == win.n_slices
