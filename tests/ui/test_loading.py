"""Opening studies: progress, unreadable files, cancel, replacing a load, series choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

import ichviewer.io.reader as reader_mod
from ichviewer.core.rules import outward_order
from ichviewer.errors import DicomReadError
from tests.ui.conftest import N_SLICES, open_and_wait, write_series

Qt = QtCore.Qt


class TestOutwardOrder:
    def test_starts_at_the_slice_on_screen_and_covers_all(self) -> None:
        assert outward_order(2, 5) == [2, 3, 1, 4, 0]
        assert outward_order(0, 4) == [0, 1, 2, 3]
        assert outward_order(99, 3) == [2, 1, 0]
        assert outward_order(0, 0) == []


def test_first_slice_shows_before_the_rest_has_loaded(
    qtbot,
    make_window,
    study_dir,  # noqa: ANN001
    slow_decode,
) -> None:
    slow_decode(0.05)
    win = make_window()
    seen: list[int] = []
    win.loader.slice_loaded.connect(lambda p: seen.append(int(win.reader.loaded.sum())))
    with qtbot.waitSignal(win.loader.slice_loaded, timeout=5000):
        win.open_paths([str(study_dir)])
    # The middle slice is on screen while most slices are still being decoded.
    assert win.reader.loaded[win.current_index]
    assert seen[0] < N_SLICES
    assert "Im 7/12" in win.image_view.corners.text("top_right")
    assert win.progress.isVisible() and win.cancel_button.isVisible()
    qtbot.waitUntil(lambda: not win.loader.busy, timeout=10_000)
    assert win.reader.loaded.all()
    assert not win.progress.isVisible()


def test_unreadable_files_are_listed_by_name_and_good_slices_load(
    qtbot,
    make_window,  # noqa: ANN001
    bad_files_dir,
) -> None:
    win = make_window()
    open_and_wait(qtbot, win, [bad_files_dir])
    assert win.n_slices == 6 and win.reader.loaded.all()
    lines = win.problems.lines()
    assert any("notes_renamed.dcm" in ln and "not a DICOM" in ln for ln in lines)
    assert any("truncated.dcm" in ln and "truncated" in ln for ln in lines)
    assert len(lines) == 2
    assert win.problems_dock.isVisible()


def test_slices_that_fail_to_decode_are_listed_and_marked(
    qtbot,
    make_window,
    study_dir,  # noqa: ANN001
    monkeypatch,
) -> None:
    real = reader_mod.decode_hu
    broken = {}

    def flaky(ref, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if not broken:
            broken["file"] = Path(ref.source).name
            raise DicomReadError(ref.source, "pixel data could not be decoded (test)")
        return real(ref, *args, **kwargs)

    monkeypatch.setattr(reader_mod, "decode_hu", flaky)
    win = make_window()
    open_and_wait(qtbot, win, [study_dir])
    assert any(broken["file"] in ln and "could not be decoded" in ln for ln in win.problems.lines())
    # The first slice decoded is the one on screen: it says so in the corner.
    assert "(unreadable)" in win.image_view.corners.text("top_right")
    assert "1 unreadable" in win.statusBar().currentMessage()


def test_cancel_stops_the_load_and_keeps_what_arrived(
    qtbot,
    make_window,
    study_dir,  # noqa: ANN001
    slow_decode,
) -> None:
    slow_decode(0.1)
    win = make_window()
    with qtbot.waitSignal(win.loader.slice_loaded, timeout=5000):
        win.open_paths([str(study_dir)])
    with qtbot.waitSignal(win.loader.idle, timeout=5000):
        qtbot.mouseClick(win.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in win.statusBar().currentMessage()
    assert not win.cancel_button.isVisible()
    reader = win.reader
    # the decoder that was mid-slice finishes; nothing new is started
    assert win.loader.runner.wait_until_idle(5000)
    n = int(reader.loaded.sum())
    assert 1 <= n < N_SLICES
    assert win.loader.runner.in_flight() == 0 and not win.loader.busy
    qtbot.keyClick(win, Qt.Key.Key_Down)  # still usable
    assert (
        "(loading)" in win.image_view.corners.text("top_right") or reader.loaded[win.current_index]
    )


def test_opening_another_study_drops_the_old_one(
    qtbot,
    make_window,
    study_dir,
    tmp_path,  # noqa: ANN001
    slow_decode,
) -> None:
    other = tmp_path / "other"
    other_uid = write_series(other, 5, description="OTHER STUDY")
    slow_decode(0.05)
    win = make_window()
    with qtbot.waitSignal(win.loader.series_opened, timeout=5000):
        win.open_paths([str(study_dir)])
    first = win.reader
    shown: list[str] = []
    win.loader.slice_loaded.connect(lambda p: shown.append(win.reader.series.series_instance_uid))
    open_and_wait(qtbot, win, [other])
    assert win.reader is not first
    assert win.reader.series.series_instance_uid == other_uid
    assert shown and set(shown) == {other_uid}
    assert win.loader.stale_dropped >= 1  # the old load's last reports were dropped
    assert first.loaded.sum() < N_SLICES  # and the old load stopped
    assert "OTHER STUDY" in win.image_view.corners.text("top_left")


def test_series_picker_and_remembered_choice(qtbot, make_window, two_series_dir) -> None:  # noqa: ANN001
    win = make_window()
    open_and_wait(qtbot, win, [two_series_dir])
    panel = win.series_panel
    assert panel.count() == 2 and win.series_dock.isVisible()
    labels = [panel.item(i).text() for i in range(2)]
    assert labels == ["Se 2 HEAD 5mm · 12 slices · 5 mm", "Se 3 HEAD 1mm BONE · 6 slices · 1 mm"]
    assert win.n_slices == 12  # the thicker series first
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        rect = panel.visualItemRect(panel.item(1))
        qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.n_slices == 6
    assert "HEAD 1mm BONE" in win.image_view.corners.text("top_left")
    win.close()  # saves the choice

    again = make_window()
    open_and_wait(qtbot, again, [two_series_dir])
    assert again.n_slices == 6
    assert again.series_panel.currentRow() == 1


def test_drop_a_folder_on_the_window(qtbot, make_window, study_dir) -> None:  # noqa: ANN001
    win = make_window()
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(study_dir))])
    pos = QtCore.QPointF(win.width() / 2, win.height() / 2)
    enter = QtGui.QDragEnterEvent(
        pos.toPoint(),  # PySide6 < 6.12 takes a QPoint here
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        QtWidgets.QApplication.sendEvent(win, drop)
    assert win.n_slices == N_SLICES
    assert win.settings.recent[0] == [str(study_dir)]
    recent = win.actions_.recent_menu.actions()
    assert recent and recent[0].text() == study_dir.name


def test_recent_study_reopens(qtbot, make_window, study_dir, two_series_dir) -> None:  # noqa: ANN001
    win = make_window()
    open_and_wait(qtbot, win, [study_dir])
    open_and_wait(qtbot, win, [two_series_dir])
    entry = next(a for a in win.actions_.recent_menu.actions() if a.text() == study_dir.name)
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        entry.trigger()
    assert win.n_slices == N_SLICES and win.series_panel.count() == 1


def test_folder_without_images_says_so(qtbot, make_window, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "junk.dcm").write_bytes(b"\x00" * 10)
    win = make_window()
    open_and_wait(qtbot, win, [tmp_path / "empty"])
    assert win.reader is None
    assert "No CT image series found" in win.image_view.message.text()
    assert any("junk.dcm" in ln for ln in win.problems.lines())


def test_missing_demo_gives_a_message_not_a_crash(
    qtbot,
    make_window,
    tmp_path,  # noqa: ANN001
    monkeypatch,
) -> None:
    (tmp_path / "resources" / "model").mkdir(parents=True)  # resources without a demo
    monkeypatch.setenv("ICHVIEWER_RESOURCES", str(tmp_path / "resources"))
    win = make_window()
    assert win.open_demo() is False
    assert "demo study is not installed" in win.image_view.message.text()
    assert not win.loader.busy


def test_demo_study_is_labelled(qtbot, make_window, study_dir, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    res = tmp_path / "resources"
    (res / "demo").mkdir(parents=True)
    (res / "demo" / "series").symlink_to(study_dir, target_is_directory=True)
    monkeypatch.setenv("ICHVIEWER_RESOURCES", str(res))
    win = make_window()
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        assert win.open_demo()
    assert win.image_view.corners.text("top_left").startswith("DEMO (synthetic phantom)")
    assert win.settings.recent == []  # the demo is not a recent study


@pytest.mark.parametrize("busy_slider", [True])
def test_volume_slices_match_the_files(qtbot, make_window, study_dir, busy_slider) -> None:  # noqa: ANN001
    win = make_window()
    open_and_wait(qtbot, win, [study_dir])
    from tests.ui.conftest import phantom_slice

    for i in (0, 5, N_SLICES - 1):
        np.testing.assert_array_equal(win.reader.volume[i], phantom_slice(i))


def test_a_job_outliving_its_window_ends_quietly(qtbot) -> None:  # noqa: ANN001
    """At exit the signals object can be deleted while a job still runs (it used to raise
    "Signal source has been deleted" in the worker thread); the job now stops quietly."""
    import shiboken6

    from ichviewer.ui.workers import Job

    seen: list[int] = []

    def work(report, cancel):  # noqa: ANN001, ANN202
        shiboken6.delete(job.signals)  # the window went away mid-job
        report(1)
        seen.append(1)
        return "done"

    job = Job(7, work)
    job.run()  # must not raise
    assert seen == [1]
    assert job.cancel_event.is_set()
