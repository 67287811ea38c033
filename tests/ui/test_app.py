"""The GUI entry point, dialogs, and the window leaving nothing behind."""

from __future__ import annotations

import sys

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.app import SCREENSHOT_SIZE, run_gui
from ichviewer.ui.dialogs import SHORTCUTS, versions
from tests.conftest import realct
from tests.ui.conftest import open_and_wait

Qt = QtCore.Qt


def _png(path) -> QtGui.QImage:  # noqa: ANN001
    img = QtGui.QImage(str(path))
    assert not img.isNull(), f"{path} is not a readable PNG"
    return img


def _grey_levels_in_centre(img: QtGui.QImage) -> int:
    """How many distinct grey levels the middle of the window shows (an image, not a blank)."""
    w, h = img.width(), img.height()
    return len(
        {
            QtGui.qGray(img.pixel(x, y))
            for x in range(w // 3, 2 * w // 3, 7)
            for y in range(h // 3, 2 * h // 3, 7)
        }
    )


class TestScreenshot:
    def test_writes_a_png_of_the_window(self, qtbot, study_dir, tmp_path) -> None:  # noqa: ANN001
        out = tmp_path / "shot.png"
        rc = run_gui(
            [str(study_dir)],
            screenshot=str(out),
            preset="bone",
            mode="sigmoid",
            slice_index=999,
            heatmap="any",
        )
        assert rc == 0
        img = _png(out)
        assert (img.width(), img.height()) == SCREENSHOT_SIZE
        assert _grey_levels_in_centre(img) >= 3

    def test_missing_demo_still_writes_a_picture_and_fails(
        self,
        qtbot,
        tmp_path,  # noqa: ANN001
        monkeypatch,
    ) -> None:
        (tmp_path / "resources" / "model").mkdir(parents=True)  # resources without a demo
        monkeypatch.setenv("ICHVIEWER_RESOURCES", str(tmp_path / "resources"))
        out = tmp_path / "demo.png"
        assert run_gui([], screenshot=str(out)) == 1
        assert (_png(out).width(), _png(out).height()) == SCREENSHOT_SIZE

    def test_bad_preset_is_refused(self, qtbot, tmp_path) -> None:  # noqa: ANN001
        assert run_gui([], screenshot=str(tmp_path / "x.png"), preset="lung") == 2
        assert not (tmp_path / "x.png").exists()

    @pytest.mark.realct
    def test_real_head_ct(self, qtbot, tmp_path) -> None:  # noqa: ANN001
        out = tmp_path / "ge.png"
        assert run_gui([str(realct("ge_head"))], screenshot=str(out), slice_index=14) == 0
        assert _grey_levels_in_centre(_png(out)) > 20  # grey/white matter, not two tones


class TestHelp:
    def test_shortcuts_dialog_lists_every_key(self, qtbot, make_window) -> None:  # noqa: ANN001
        win = make_window()
        win.actions_.all["shortcuts"].trigger()
        dlg = next(
            w
            for w in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(w, QtWidgets.QDialog) and w.isVisible()
        )
        table = dlg.findChild(QtWidgets.QTableWidget)
        assert table.rowCount() == len(SHORTCUTS)
        listed = set()
        for r in range(table.rowCount()):
            text = table.item(r, 0).text().replace(" or ", " / ").replace(", ", " / ")
            listed |= {t.strip() for t in text.split(" / ")}
        alias = {"PgDown": "Page Down", "PgUp": "Page Up"}
        keys = {
            alias.get(k.toString(), k.toString())
            for a in win.findChildren(QtGui.QAction)
            for k in a.shortcuts()
            if k.toString()
        }
        assert "Space" in keys and keys <= listed, sorted(keys - listed)  # every key is listed
        dlg.close()

    def test_about_names_the_versions(self, qtbot, make_window) -> None:  # noqa: ANN001
        win = make_window()
        dlg = win.show_about()
        text = dlg.findChild(QtWidgets.QLabel, "about_text").text()
        for name, version in versions().items():
            if name in ("ICH Viewer", "Qt", "pydicom", "numpy"):
                assert version in text
        assert "Not for diagnostic use" in text
        dlg.close()


def test_no_widget_outlives_the_window(qtbot, study_dir) -> None:  # noqa: ANN001
    from ichviewer.ui.main_window import MainWindow

    app = QtWidgets.QApplication.instance()
    app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    baseline = len(app.topLevelWidgets())
    win = MainWindow()
    win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    win.show()
    open_and_wait(qtbot, win, [study_dir])
    win.show_about().close()
    win.show_shortcuts().close()
    qtbot.keyClick(win, Qt.Key.Key_Down)
    win.close()
    for _ in range(3):
        app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        app.processEvents()
    assert len(app.topLevelWidgets()) == baseline


def test_a_session_logs_no_qt_warning(qtbot, qtlog, make_window, study_dir) -> None:  # noqa: ANN001
    win = make_window()
    open_and_wait(qtbot, win, [study_dir])
    for key in (
        Qt.Key.Key_2,
        Qt.Key.Key_S,
        Qt.Key.Key_4,
        Qt.Key.Key_Down,
        Qt.Key.Key_F,
        Qt.Key.Key_R,
        Qt.Key.Key_End,
    ):
        qtbot.keyClick(win, key)
    win.image_view.rendered_image()
    win.grab()
    t = QtCore.QtMsgType
    bad = [
        r.message
        for r in qtlog.records
        if not r.ignored and r.type in (t.QtWarningMsg, t.QtCriticalMsg, t.QtFatalMsg)
    ]
    assert bad == []


def test_ui_start_path_does_not_import_torch() -> None:
    import subprocess

    code = "import sys, ichviewer.app, ichviewer.ui.main_window; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": ""},
    )
    assert out.stdout.strip() == "False"


def test_no_display_is_an_error_not_an_abort(monkeypatch) -> None:  # noqa: ANN001
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 / Wayland check is Linux only")
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    assert run_gui(["/nowhere"]) == 1
