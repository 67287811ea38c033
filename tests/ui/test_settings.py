"""Settings survive a restart; a broken settings file never stops the viewer."""

from __future__ import annotations

from PySide6 import QtCore

from ichviewer import paths
from ichviewer.ui.settings import ViewerSettings, load_settings, save_settings, settings_path

Qt = QtCore.Qt


class TestLoadSettings:
    def test_missing_file_gives_defaults_quietly(self, tmp_path) -> None:  # noqa: ANN001
        s, warnings = load_settings(tmp_path / "none.ini")
        assert s == ViewerSettings() and warnings == []

    def test_round_trip(self, tmp_path) -> None:  # noqa: ANN001
        s = ViewerSettings(
            geometry=b"\x01\x02\xff",
            preset="bone",
            mode="sigmoid",
            cine_fps=25,
            show_patient_name=True,
        )
        s.add_recent(["/a/b"])
        s.add_recent(["/c", "/d"])
        s.add_recent(["/a/b"])
        s.remember_series("1.2.3", "1.2.3.4")
        assert save_settings(s, tmp_path / "x.ini")
        back, warnings = load_settings(tmp_path / "x.ini")
        assert warnings == []
        assert back == s
        assert back.recent == [["/a/b"], ["/c", "/d"]]

    def test_unparseable_file_is_moved_aside(self, tmp_path) -> None:  # noqa: ANN001
        p = tmp_path / "ichviewer.ini"
        p.write_bytes(b"\x00\xff\xfe garbage\n[[[\n=\n")
        s, warnings = load_settings(p)
        assert s == ViewerSettings()
        assert len(warnings) == 1 and "could not be read" in warnings[0]
        assert not p.exists() and (tmp_path / "ichviewer.ini.corrupt").exists()

    def test_bad_values_fall_back_one_by_one(self, tmp_path) -> None:  # noqa: ANN001
        p = tmp_path / "ichviewer.ini"
        p.write_text(
            "[General]\npreset=lung\nmode=sigmoid\ncine_fps=9000\nrecent=[oops\n"
            "show_patient_name=maybe\n"
        )
        s, warnings = load_settings(p)
        assert (s.preset, s.mode, s.cine_fps, s.recent, s.show_patient_name) == (
            "brain",
            "sigmoid",
            10,
            [],
            False,
        )
        assert len(warnings) == 4
        assert any("'preset'" in w for w in warnings)


def test_window_restores_what_the_user_left(qtbot, make_window) -> None:  # noqa: ANN001
    win = make_window()
    qtbot.keyClick(win, Qt.Key.Key_3)
    qtbot.keyClick(win, Qt.Key.Key_S)
    win.actions_.fps.setValue(24)
    win.actions_.show_name.setChecked(True)
    win.resize(1000, 640)
    win.close()
    assert settings_path().parent == paths.config_dir()
    assert settings_path().exists()

    again = make_window()
    assert (again.display.preset, again.display.mode) == ("bone", "sigmoid")
    assert again.actions_.presets["bone"].isChecked() and again.actions_.sigmoid.isChecked()
    assert again.actions_.fps.value() == 24 and again.settings.cine_fps == 24
    assert again.actions_.show_name.isChecked()


def test_corrupt_settings_warn_in_the_status_bar(qtbot, make_window) -> None:  # noqa: ANN001
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\x00\xff\xfe not settings\n[[[\n=\n")
    win = make_window()
    assert "could not be read" in win.statusBar().currentMessage()
    assert win.display.preset == "brain" and win.display.mode == "linear"
    win.close()  # and the next start is clean
    again = make_window()
    assert again.statusBar().currentMessage() == ""
