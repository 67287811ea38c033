"""The layout at 1400 x 900 with every panel open: the image keeps the largest share, the
probability rows never overlap when the caption wraps, a long 'Saved' line never widens the
panels."""

from __future__ import annotations

from PySide6 import QtWidgets

from ichviewer.core.labels import LABELS
from tests.ui.ai_support import ai_study, ai_window, open_scored, tiny_ckpt

FIXTURES = (ai_study, ai_window, tiny_ckpt)


def test_layout_at_1400_by_900(qtbot, ai_window, ai_study) -> None:  # noqa: ANN001
    win = ai_window()
    open_scored(qtbot, win, [ai_study])
    win.set_heatmap(True)
    for d in (win.series_dock, win.ai_dock, win.triage_dock, win.profile_dock):
        d.show()
    win.resize(1400, 900)
    qtbot.wait(50)  # a layout pass (no background work is waited for here)
    width = win.ai_dock.width()
    panel = win.probability_panel
    long = "With the slices around (series context): a caption long enough to wrap " * 3
    panel.set_probabilities(panel_probs(), long, "Slice 1/1")
    win.marks_panel.set_saved_text("Saved 12:00:00 · 1 mark (" + "f" * 120 + ".json)")
    QtWidgets.QApplication.processEvents()
    qtbot.wait(50)
    assert win.ai_dock.width() == width  # the long 'Saved' line did not widen the column
    rows = [panel.names[lb].geometry() for lb in LABELS]
    for a, b in zip(rows, rows[1:], strict=False):
        assert a.bottom() < b.top()  # no overlap
    status = panel.status
    assert status.height() >= status.heightForWidth(status.width())  # not clipped
    view = win.image_view
    assert view.width() * view.height() > max(
        d.width() * d.height() for d in (win.ai_dock, win.triage_dock, win.profile_dock)
    )
    assert view.width() > win.width() / 2


def panel_probs():  # noqa: ANN201
    import numpy as np

    return np.linspace(0.1, 0.9, len(LABELS)).astype(np.float32)
