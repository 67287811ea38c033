"""The main window as a user drives it: scrolling, windows, mouse, what is on screen."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.core.windowing import PRESETS, apply_lut, apply_window, rgb_composite, window_lut
from tests.ui.conftest import COLS, N_SLICES, REGIONS, ROWS, SPACING, open_and_wait, phantom_slice

Qt = QtCore.Qt


@pytest.fixture
def win(qtbot, make_window, study_dir):  # noqa: ANN001, ANN201
    w = make_window()
    open_and_wait(qtbot, w, [study_dir])
    return w


def viewport(win) -> QtWidgets.QWidget:  # noqa: ANN001
    return win.image_view.graphics.viewport()


def screen_pos_of_pixel(win, col: float, row: float) -> QtCore.QPointF:  # noqa: ANN001
    """Viewport position of the centre of image pixel (col, row)."""
    item = win.image_view.image_item
    scene = item.mapToScene(QtCore.QPointF(col + 0.5, row + 0.5))
    return QtCore.QPointF(win.image_view.graphics.mapFromScene(scene))


def send_mouse(widget, etype, pos, button, buttons, mods=Qt.KeyboardModifier.NoModifier):  # noqa: ANN001, ANN201
    ev = QtGui.QMouseEvent(
        etype, QtCore.QPointF(pos), widget.mapToGlobal(QtCore.QPointF(pos)), button, buttons, mods
    )
    QtWidgets.QApplication.sendEvent(widget, ev)


def mouse_drag(
    qtbot,
    widget,
    start: QtCore.QPointF,
    delta: tuple[float, float],  # noqa: ANN001
    button=Qt.MouseButton.LeftButton,
    mods=Qt.KeyboardModifier.NoModifier,
) -> None:  # noqa: ANN001
    T = QtCore.QEvent.Type
    send_mouse(widget, T.MouseButtonPress, start, button, button, mods)
    for k in range(1, 6):
        p = start + QtCore.QPointF(delta[0] * k / 5, delta[1] * k / 5)
        send_mouse(widget, T.MouseMove, p, Qt.MouseButton.NoButton, button, mods)
    end = start + QtCore.QPointF(*delta)
    send_mouse(widget, T.MouseButtonRelease, end, button, Qt.MouseButton.NoButton, mods)
    qtbot.wait(10)


def wheel(widget, pos: QtCore.QPointF, notches: int, mods=Qt.KeyboardModifier.NoModifier) -> None:  # noqa: ANN001
    ev = QtGui.QWheelEvent(
        QtCore.QPointF(pos),
        widget.mapToGlobal(QtCore.QPointF(pos)),
        QtCore.QPoint(0, 0),
        QtCore.QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        mods,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(widget, ev)


def expected_grey(index: int, window, mode: str = "linear") -> np.ndarray:  # noqa: ANN001
    """What DESIGN.md contract 2 says the slice should look like: round(255 * f(HU))."""
    return np.rint(apply_window(phantom_slice(index), window, mode) * 255).astype(np.uint8)


class TestOpen:
    def test_first_view_shows_middle_slice_with_corner_text(self, win) -> None:  # noqa: ANN001
        assert win.n_slices == N_SLICES
        assert win.current_index == N_SLICES // 2
        c = win.image_view.corners
        assert f"Im {N_SLICES // 2 + 1}/{N_SLICES}" in c.text("top_right")
        assert "Thk 5 mm" in c.text("top_right")
        assert "Pos 30.0 mm" in c.text("top_right")
        assert "Study 2024-01-31" in c.text("top_left")
        assert "HEAD 5mm" in c.text("top_left")
        assert "W 80 L 40 brain · linear" in c.text("bottom_left")
        assert "0.6 x 0.9 mm/px" in c.text("bottom_right")
        assert (c.text("left"), c.text("right"), c.text("top"), c.text("bottom")) == (
            "R",
            "L",
            "A",
            "P",
        )

    def test_patient_name_hidden_until_asked(self, win) -> None:  # noqa: ANN001
        assert "Patient" not in win.image_view.corners.text("top_left")
        win.actions_.show_name.trigger()
        assert "Test Patient" in win.image_view.corners.text("top_left")

    def test_aspect_follows_pixel_spacing(self, win) -> None:  # noqa: ANN001
        item = win.image_view.image_item
        poly = win.image_view.graphics.mapFromScene(item.mapToScene(item.boundingRect()))
        r = poly.boundingRect()
        expected = (COLS * SPACING[1]) / (ROWS * SPACING[0])
        assert r.width() / r.height() == pytest.approx(expected, rel=0.03)

    def test_display_never_changes_the_volume(self, qtbot, win) -> None:  # noqa: ANN001
        before = win.reader.volume.copy()
        for key in (Qt.Key.Key_3, Qt.Key.Key_4, Qt.Key.Key_S, Qt.Key.Key_2, Qt.Key.Key_Down):
            qtbot.keyClick(win, key)
            win.image_view.rendered_image()
        mouse_drag(qtbot, viewport(win), screen_pos_of_pixel(win, 40, 60), (30, 30))
        win.image_view.rendered_image()
        np.testing.assert_array_equal(win.reader.volume, before)


class TestScroll:
    def test_keys(self, qtbot, win) -> None:  # noqa: ANN001
        start = win.current_index
        qtbot.keyClick(win, Qt.Key.Key_Down)
        assert win.current_index == start + 1
        qtbot.keyClick(win, Qt.Key.Key_Up)
        qtbot.keyClick(win, Qt.Key.Key_Up)
        assert win.current_index == start - 1
        qtbot.keyClick(win, Qt.Key.Key_End)
        assert win.current_index == N_SLICES - 1
        assert f"Im {N_SLICES}/{N_SLICES}" in win.image_view.corners.text("top_right")
        qtbot.keyClick(win, Qt.Key.Key_Down)  # clamps at the last slice
        assert win.current_index == N_SLICES - 1
        qtbot.keyClick(win, Qt.Key.Key_PageUp)
        assert win.current_index == N_SLICES - 11
        qtbot.keyClick(win, Qt.Key.Key_Home)
        assert win.current_index == 0
        assert "Im 1/12" in win.image_view.corners.text("top_right")
        assert win.slider.value() == 0

    def test_wheel_scrolls_and_ctrl_wheel_zooms(self, qtbot, win) -> None:  # noqa: ANN001
        vp, start = viewport(win), win.current_index
        centre = QtCore.QPointF(vp.width() / 2, vp.height() / 2)
        wheel(vp, centre, -2)  # two notches towards the user: two slices on
        assert win.current_index == start + 2
        wheel(vp, centre, 1)
        assert win.current_index == start + 1
        zoom = win.image_view.zoom()
        wheel(vp, centre, 2, Qt.KeyboardModifier.ControlModifier)
        assert win.current_index == start + 1
        assert win.image_view.zoom() > zoom * 1.2
        qtbot.keyClick(win, Qt.Key.Key_F)
        assert win.image_view.zoom() == pytest.approx(zoom, rel=0.01)

    def test_scrolled_slice_is_what_is_drawn(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_3)  # bone window shows the per-slice marker
        for _ in range(3):
            qtbot.keyClick(win, Qt.Key.Key_Down)
        i = win.current_index
        np.testing.assert_array_equal(
            win.image_view.rendered_image(), expected_grey(i, PRESETS["bone"])
        )

    def test_slider_moves_slices(self, win) -> None:  # noqa: ANN001
        win.slider.setValue(2)
        assert win.current_index == 2
        assert "Im 3/12" in win.image_view.corners.text("top_right")

    def test_cine_plays_and_pauses(self, qtbot, win) -> None:  # noqa: ANN001
        win.actions_.fps.setValue(60)
        start = win.current_index
        qtbot.keyClick(win, Qt.Key.Key_Space)
        assert win.cine_timer.isActive()
        qtbot.waitUntil(lambda: win.current_index != start, timeout=2000)
        qtbot.keyClick(win, Qt.Key.Key_Space)
        assert not win.cine_timer.isActive()
        assert win.cine_timer.interval() == round(1000 / 60)


class TestWindows:
    @pytest.mark.parametrize(
        ("key", "preset"),
        [(Qt.Key.Key_1, "brain"), (Qt.Key.Key_2, "subdural"), (Qt.Key.Key_3, "bone")],
    )
    @pytest.mark.parametrize("mode", ["linear", "sigmoid"])
    def test_preset_keys_and_mode_render_the_formula(self, qtbot, win, key, preset, mode) -> None:  # noqa: ANN001
        qtbot.keyClick(win, key)
        if mode != win.display.mode:
            qtbot.keyClick(win, Qt.Key.Key_S)
        assert (win.display.preset, win.display.mode) == (preset, mode)
        assert win.actions_.presets[preset].isChecked()
        assert win.actions_.sigmoid.isChecked() == (mode == "sigmoid")
        shown = win.image_view.rendered_image()
        i = win.current_index
        np.testing.assert_array_equal(shown, expected_grey(i, PRESETS[preset], mode))
        np.testing.assert_array_equal(
            shown, apply_lut(phantom_slice(i), window_lut(PRESETS[preset], mode))
        )
        w = PRESETS[preset]
        assert f"W {w.width:g} L {w.level:g} {preset} · {mode}" in win.image_view.corners.text(
            "bottom_left"
        )

    def test_known_grey_values(self, qtbot, win) -> None:  # noqa: ANN001
        (r, c, hu) = REGIONS["brain"]
        shown = win.image_view.rendered_image()
        assert hu == 40 and shown[r.start + 1, c.start + 1] == 128  # brain centre = mid grey
        qtbot.keyClick(win, Qt.Key.Key_2)
        qtbot.keyClick(win, Qt.Key.Key_S)
        br, bc, bhu = REGIONS["blood"]
        assert bhu == 80 and win.image_view.rendered_image()[br.start, bc.start] == 128

    def test_rgb_composite(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_4)
        assert win.display.is_rgb and win.actions_.presets["rgb"].isChecked()
        shown = win.image_view.rendered_image()
        assert shown.shape == (ROWS, COLS, 3)
        np.testing.assert_array_equal(shown, rgb_composite(phantom_slice(win.current_index)))
        qtbot.keyClick(win, Qt.Key.Key_S)
        np.testing.assert_array_equal(
            win.image_view.rendered_image(),
            rgb_composite(phantom_slice(win.current_index), "sigmoid"),
        )
        assert "RGB brain/subdural/bone · sigmoid" in win.image_view.corners.text("bottom_left")

    def test_left_drag_changes_width_and_level(self, qtbot, win) -> None:  # noqa: ANN001
        vp = viewport(win)
        mouse_drag(qtbot, vp, screen_pos_of_pixel(win, 40, 60), (50, 20))
        w = win.display.window
        assert (w.width, w.level) == (130, 60)  # brain 80/40 + 1 HU per pixel
        assert win.display.preset == "custom"
        assert not any(a.isChecked() for a in win.actions_.presets.values())
        assert "W 130 L 60 custom · linear" in win.image_view.corners.text("bottom_left")
        np.testing.assert_array_equal(
            win.image_view.rendered_image(), expected_grey(win.current_index, (60, 130))
        )
        mouse_drag(qtbot, vp, screen_pos_of_pixel(win, 40, 60), (-200, -10))  # narrower, lower
        assert (win.display.window.width, win.display.window.level) == (1, 50)
        qtbot.keyClick(win, Qt.Key.Key_R)  # reset: back to the preset
        assert win.display.preset == "brain" and win.display.window == PRESETS["brain"]

    def test_shift_drag_pans_without_changing_the_window(self, qtbot, win) -> None:  # noqa: ANN001
        vb = win.image_view.view_box
        before = vb.viewRect()
        mouse_drag(
            qtbot,
            viewport(win),
            screen_pos_of_pixel(win, 40, 60),
            (40, 0),
            mods=Qt.KeyboardModifier.ShiftModifier,
        )
        assert win.display.window == PRESETS["brain"]
        assert vb.viewRect().left() < before.left() - 1

    def test_right_drag_zooms(self, qtbot, win) -> None:  # noqa: ANN001
        zoom = win.image_view.zoom()
        mouse_drag(
            qtbot,
            viewport(win),
            screen_pos_of_pixel(win, 40, 60),
            (0, -60),
            button=Qt.MouseButton.RightButton,
        )
        assert win.image_view.zoom() > zoom * 1.5  # drag up zooms in
        assert win.display.window == PRESETS["brain"]

    def test_hover_shows_hu_and_pixel(self, qtbot, win) -> None:  # noqa: ANN001
        r, c, hu = REGIONS["blood"]
        pos = screen_pos_of_pixel(win, c.start + 2, r.start + 3)
        send_mouse(
            viewport(win),
            QtCore.QEvent.Type.MouseMove,
            pos,
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
        )
        qtbot.waitUntil(lambda: "HU" in win.hover_label.text(), timeout=2000)
        assert win.hover_label.text() == f"x {c.start + 2}  y {r.start + 3}   {hu:.0f} HU"


class TestOverlay:
    def test_overlay_layer_sits_on_the_image_grid(self, qtbot, win) -> None:  # noqa: ANN001
        view = win.image_view
        rgba = np.zeros((ROWS, COLS, 4), np.uint8)
        rgba[40:60, 30:50] = (255, 0, 0, 160)
        view.set_overlay(rgba)
        assert view.overlay_item.isVisible()
        assert view.overlay_item.zValue() > view.image_item.zValue()
        img_rect = view.image_item.mapRectToScene(view.image_item.boundingRect())
        assert view.overlay_item.mapRectToScene(view.overlay_item.boundingRect()) == img_rect
        shown = win.grab().toImage()
        centre = view.graphics.mapTo(win, screen_pos_of_pixel(win, 40, 50).toPoint())
        red = QtGui.QColor(shown.pixel(centre))
        assert red.red() > red.green() + 60  # red over grey brain
        qtbot.keyClick(win, Qt.Key.Key_Down)  # the overlay belongs to its caller, not the slice
        with pytest.raises(ValueError, match="overlay is"):
            view.set_overlay(np.zeros((10, 10, 4), np.uint8))
        view.set_overlay(None)
        assert not view.overlay_item.isVisible()


def test_long_sessions_cannot_exhaust_none_true_false(qtbot, win) -> None:  # noqa: ANN001
    """PySide6 6.12 on Python 3.11 drops a reference to None on every void Qt call and to
    True on every emit; without ichviewer.ui.qt_compat a few thousand frames of scrolling
    abort the interpreter. With it, those counts stay astronomically far from zero."""
    if sys.version_info >= (3, 12):
        pytest.skip("None, True and False are immortal from Python 3.12")
    from ichviewer.ui import qt_compat

    before = {obj: sys.getrefcount(obj) for obj in (None, True, False)}
    for k in range(150):
        win.step(1 if (k // 11) % 2 == 0 else -1)
        win.image_view.rendered_image()
        QtWidgets.QApplication.processEvents()
    for obj in (None, True, False):
        if qt_compat.fix_installed():
            assert sys.getrefcount(obj) > 2**39
        else:  # a binding without the defect: nothing may leak
            assert sys.getrefcount(obj) >= before[obj] - 50
