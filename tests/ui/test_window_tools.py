"""Window tools as a reader uses them: stroke preset (5), typed W/L, invert (I), flips and
rotation with the orientation letters following, presets edited in Settings and kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from ichviewer.core.measure import Ruler
from ichviewer.core.presets import Preset
from ichviewer.core.windowing import Window
from tests.ui.conftest import open_and_wait
from tests.ui.test_main_window import screen_pos_of_pixel
from tests.ui.test_measure_ui import drag_pixels

Qt = QtCore.Qt
EDGES = ("left", "right", "top", "bottom")


@pytest.fixture
def win(qtbot, make_window, study_dir):  # noqa: ANN001, ANN201
    w = make_window(model_path=False)
    open_and_wait(qtbot, w, [study_dir])
    return w


def letters(win) -> tuple[str, ...]:  # noqa: ANN001
    return tuple(win.image_view.corners.text(e) for e in EDGES)


def test_stroke_preset_is_key_5(qtbot, win) -> None:  # noqa: ANN001
    qtbot.keyClick(win, Qt.Key.Key_5)
    assert win.display.preset == "stroke" and win.display.window == Window(40.0, 40.0)
    assert "W 40 L 40 stroke" in win.image_view.corners.text("bottom_left")
    assert win.actions_.presets["stroke"].isChecked()
    qtbot.keyClick(win, Qt.Key.Key_1)
    assert win.display.preset == "brain" and not win.actions_.presets["stroke"].isChecked()


def test_typed_window_level(qtbot, win) -> None:  # noqa: ANN001
    qtbot.keyClick(win, Qt.Key.Key_W)
    dlg = win.windows.dialog
    assert dlg is not None and dlg.isVisible()
    dlg.level.setValue(35)
    dlg.width_.setValue(120)
    dlg.width_.setValue(-5)  # the box keeps a width of at least 1
    assert dlg.width_.value() == 1
    dlg.width_.setValue(120)
    qtbot.keyClick(dlg, Qt.Key.Key_Return)
    assert win.windows.dialog is None
    assert win.display.window == Window(35.0, 120.0) and win.display.preset == "custom"
    with pytest.raises(ValueError, match="width must be greater than 0"):
        win.windows.set_window(40, 0)
    win.windows.set_window(40, 40)  # typed values that are a preset get its name
    assert win.display.preset == "stroke"


def test_invert(qtbot, win) -> None:  # noqa: ANN001
    normal = win.image_view.rendered_image()
    qtbot.keyClick(win, Qt.Key.Key_I)
    assert win.display.invert and win.tool_actions["invert"].isChecked()
    np.testing.assert_array_equal(win.image_view.rendered_image(), 255 - normal)
    assert "inverted" in win.image_view.corners.text("bottom_left")
    qtbot.keyClick(win, Qt.Key.Key_I)
    np.testing.assert_array_equal(win.image_view.rendered_image(), normal)


def test_flip_and_rotate_move_image_and_markers(qtbot, win) -> None:  # noqa: ANN001
    # Axial, IOP [1,0,0,0,1,0]: patient's right on the screen's left, anterior at the top.
    assert letters(win) == ("R", "L", "A", "P")
    left_x = screen_pos_of_pixel(win, 5, 64).x()
    right_x = screen_pos_of_pixel(win, 90, 64).x()
    assert left_x < right_x
    qtbot.keyClick(
        win, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert win.display.flip_h and letters(win) == ("L", "R", "A", "P")
    assert screen_pos_of_pixel(win, 5, 64).x() > screen_pos_of_pixel(win, 90, 64).x()
    # A ruler drawn on the flipped view lands on the pixels under the mouse.
    qtbot.keyClick(win, Qt.Key.Key_M)
    drag_pixels(qtbot, win, (10, 20), (40, 20))
    (m,) = list(win.measure.items)
    assert isinstance(m, Ruler) and m.p0 == pytest.approx((10, 20), abs=0.3)
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    # Flip back, then turn clockwise: the right side (R) goes to the top.
    win.windows.flip(True)
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert win.display.quarter_turns == 1 and letters(win) == ("P", "A", "R", "L")
    top = screen_pos_of_pixel(win, 5, 64)  # a pixel near the right side: now at the top
    bottom = screen_pos_of_pixel(win, 90, 64)
    assert top.y() < bottom.y() and abs(top.x() - bottom.x()) < 1
    # On the turned view a screen flip is left-right as seen.
    win.windows.flip(True)
    assert letters(win) == ("A", "P", "R", "L")
    qtbot.keyClick(win, Qt.Key.Key_R)  # Reset undoes flips and turns
    assert letters(win) == ("R", "L", "A", "P") and not win.display.is_reoriented


def test_presets_edited_in_settings_are_kept(qtbot, make_window) -> None:  # noqa: ANN001
    win = make_window(model_path=False)
    win.tool_actions["settings"].trigger()
    dlg = win.windows.dialog
    page = dlg.presets
    page.name.setText("posterior fossa")
    page.level.setValue(45)
    page.width_.setValue(130)
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    page.name.setText("Stroke")  # overrides the built-in one for this user
    page.level.setValue(35)
    page.width_.setValue(30)
    page.save_entry()
    page.name.setText("")
    assert not page.save_entry() and "non-empty" in page.error.text()
    rows = {
        page.list.item(r, 0).text(): page.list.item(r, 3).text()
        for r in range(page.list.rowCount())
    }
    assert rows["posterior fossa"] == "user" and rows["Stroke"] == "user"
    assert rows["brain"] == "builtin"
    dlg.accept()
    assert [p.name for p in win.settings.user_presets] == ["posterior fossa", "Stroke"]
    menu = [a.text() for a in win.windows.presets_menu.actions()]
    assert any(t.startswith("posterior fossa  45/130 (user)") for t in menu)
    qtbot.keyClick(win, Qt.Key.Key_5)  # key 5 gives the user's stroke window
    assert win.display.window == Window(35.0, 30.0)
    win.windows.apply_preset("posterior fossa")
    win.close()

    again = make_window(model_path=False)
    assert again.display.preset == "posterior fossa" and again.display.window == Window(45.0, 130.0)
    assert again.display.presets.get("stroke").window == Window(35.0, 30.0)
    # Deleting a user preset brings the built-in stroke back.
    again.windows.open_settings()
    page = again.windows.dialog.presets
    row = next(r for r in range(page.list.rowCount()) if page.list.item(r, 0).text() == "Stroke")
    page.list.selectRow(row)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    again.windows.dialog.accept()
    assert again.display.presets.get("stroke").window == Window(40.0, 40.0)


def test_site_presets_from_the_site_file(qtbot, make_window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    site = tmp_path / "site.json"
    entries = [{"name": "lung", "level": -600, "width": 1500}, {"name": "bad", "width": 0}]
    site.write_text(json.dumps({"presets": entries}))
    monkeypatch.setenv("ICHVIEWER_SITE_CONFIG", str(site))
    win = make_window(model_path=False)
    table = win.display.presets
    assert table.get("lung") == Preset("lung", -600, 1500) and table.source("lung") == "site"
    assert "bad" not in table.names()
    assert any(
        "lung" in a.text() and "(site)" in a.text() for a in win.windows.presets_menu.actions()
    )
    win.windows.presets_menu.actions()[table.names().index("lung")].trigger()
    assert win.display.preset == "lung"
    QtWidgets.QApplication.processEvents()
