"""Reading habits: N / Shift+N in anatomical order, the note field never keeps the keys,
configurable mouse bindings."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets

from tests.ui.ai_support import ai_study, ai_window, scored_win, tiny_ckpt

FIXTURES = (ai_study, ai_window, scored_win, tiny_ckpt)
Qt = QtCore.Qt


def test_n_and_shift_n_go_up_and_down_the_head_by_default(qtbot, win) -> None:  # noqa: ANN001
    flagged = sorted(f.index for f in win.flagged)
    assert len(flagged) >= 2
    assert win.triage_panel.order_name == "position"
    assert win.triage_panel.rows() == flagged  # the list in anatomical order too
    win.set_slice(next(i for i in range(win.n_slices) if i not in flagged))
    seen = []
    for _ in flagged:
        qtbot.keyClick(win, Qt.Key.Key_N)
        seen.append(win.current_index)
    assert seen == flagged  # foot to head, whatever the probabilities
    qtbot.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert win.current_index == flagged[-2]
    # The list can still be sorted most suspicious first; N then follows the list.
    win.triage_panel.order.setCurrentIndex(0)
    assert win.triage_panel.order_name == "probability"
    assert sorted(win.triage_panel.rows()) == flagged


def _focus(win):  # noqa: ANN001, ANN202
    return QtWidgets.QApplication.focusWidget()


@pytest.mark.parametrize("key", [Qt.Key.Key_Escape, Qt.Key.Key_Return])
def test_escape_or_enter_gives_the_keys_back_to_the_image(qtbot, win, key) -> None:  # noqa: ANN001
    flagged = sorted(f.index for f in win.flagged)
    win.set_slice(flagged[0])
    note = win.marks_panel.note
    qtbot.mouseClick(note, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _focus(win) is note)
    qtbot.keyClicks(note, "small bleed")
    qtbot.keyClick(note, key)
    assert _focus(win) is win.image_view
    uid = win.reader.series.slices[flagged[0]].sop_instance_uid
    assert win.state.marks.get(uid).note == "small bleed"  # saved on leaving
    # Single-key shortcuts are commands again, not letters in the note.
    qtbot.keyClick(_focus(win), Qt.Key.Key_N)
    assert win.current_index == flagged[1]
    qtbot.keyClick(_focus(win), Qt.Key.Key_A)
    assert win.state.marks.get(win.reader.series.slices[flagged[1]].sop_instance_uid).verdict == (
        "agree"
    )
    win.set_slice(flagged[0])
    assert note.text() == "small bleed"


def test_clicking_the_image_takes_the_keys_from_the_note(qtbot, win) -> None:  # noqa: ANN001
    note = win.marks_panel.note
    qtbot.mouseClick(note, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _focus(win) is note)
    vp = win.image_view.graphics.viewport()
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=vp.rect().center())
    assert _focus(win) is win.image_view
    start = win.current_index
    qtbot.keyClick(_focus(win), Qt.Key.Key_Down)
    assert win.current_index == start + 1 and note.text() == ""


def _drag(qtbot, widget, button, dx: int, dy: int) -> None:  # noqa: ANN001
    c = widget.rect().center()
    qtbot.mousePress(widget, button, pos=c)
    for k in range(1, 6):
        p = c + QtCore.QPoint(dx * k // 5, dy * k // 5)
        ev = QtGui_mouse_move(widget, p, button)
        QtWidgets.QApplication.sendEvent(widget, ev)
    qtbot.mouseRelease(widget, button, pos=c + QtCore.QPoint(dx, dy))


def QtGui_mouse_move(widget, pos, button):  # noqa: ANN001, ANN201, N802
    from PySide6 import QtGui

    return QtGui.QMouseEvent(
        QtCore.QEvent.Type.MouseMove,
        QtCore.QPointF(pos),
        QtCore.QPointF(widget.mapToGlobal(pos)),
        Qt.MouseButton.NoButton,
        button,
        Qt.KeyboardModifier.NoModifier,
    )


def test_mouse_bindings_default_and_changed(qtbot, win) -> None:  # noqa: ANN001
    from ichviewer.ui.mouse import DEFAULT_MOUSE

    assert win.settings.mouse == DEFAULT_MOUSE
    assert DEFAULT_MOUSE == {"left": "window", "right": "zoom", "middle": "pan", "wheel": "slices"}
    vp = win.image_view.graphics.viewport()
    before = win.display.window
    _drag(qtbot, vp, Qt.MouseButton.LeftButton, 40, 20)
    assert win.display.window != before  # left-drag: window / level
    # View > Mouse > Left drag > Pan: the same drag pans and leaves the window alone.
    win.mouse_actions["left"]["pan"].trigger()
    assert win.settings.mouse["left"] == "pan"
    win.fit_view()
    window, rect = win.display.window, win.image_view.view_box.viewRect()
    _drag(qtbot, vp, Qt.MouseButton.LeftButton, 60, 0)
    assert win.display.window == window
    assert win.image_view.view_box.viewRect().center() != rect.center()
    # Right-drag bound to window / level.
    win.mouse_actions["right"]["window"].trigger()
    _drag(qtbot, vp, Qt.MouseButton.RightButton, 40, 0)
    assert win.display.window != window
    assert win.mouse.bindings["right"] == "window"
