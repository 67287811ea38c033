"""Multiplanar reformats as a user drives them: layout 1x1 / 1x3, scrolling a reformat,
clicking a point to move the other views there, slabs, sizes in mm (ge_head, tilted)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.app import run_gui
from ichviewer.cli import _gui_parser
from tests.conftest import realct
from tests.ui.conftest import N_SLICES, SLICE_GAP, SPACING, open_and_wait
from tests.ui.test_main_window import send_mouse, wheel

Qt = QtCore.Qt


def trigger(win, key: str) -> None:  # noqa: ANN001
    """What a click on the View menu entry or toolbar button does."""
    win.actions_.all[key].trigger()


def pos_of(view, x: float, y: float) -> QtCore.QPointF:  # noqa: ANN001
    """Viewport position of image point (x, y) (pixel centres on integers)."""
    scene = view.image_item.mapToScene(QtCore.QPointF(x + 0.5, y + 0.5))
    return QtCore.QPointF(view.graphics.mapFromScene(scene))


def click(qtbot, view, x: float, y: float) -> None:  # noqa: ANN001
    vp, p = view.graphics.viewport(), pos_of(view, x, y)
    T, left = QtCore.QEvent.Type, Qt.MouseButton.LeftButton
    send_mouse(vp, T.MouseButtonPress, p, left, left)
    send_mouse(vp, T.MouseButtonRelease, p, left, Qt.MouseButton.NoButton)
    qtbot.wait(10)


def size_mm(view) -> tuple[float, float]:  # noqa: ANN001
    """(height, width) in mm of the image as the view draws it."""
    r = view.image_item.mapRectToView(view.image_item.boundingRect())
    return r.height(), r.width()


@pytest.fixture
def win(qtbot, make_window, study_dir):  # noqa: ANN001, ANN201
    w = make_window(persist=False, model_path=False)
    open_and_wait(qtbot, w, [study_dir])
    return w


def shown(win, plane: str):  # noqa: ANN001, ANN201
    win.mpr.wait_until_idle()
    return win.mpr.panes[plane].shown


class TestLayout:
    def test_starts_axial_alone_then_1x3_then_one_reformat(self, qtbot, win) -> None:  # noqa: ANN001
        panes = win.mpr.panes
        assert win.image.widget.isVisible()
        assert not panes["coronal"].isVisible() and not panes["sagittal"].isVisible()
        trigger(win, "layout_1x3")
        assert all(w.isVisible() for w in (win.image.widget, panes["coronal"], panes["sagittal"]))
        cor = shown(win, "coronal")
        assert cor is not None and shown(win, "sagittal") is not None
        grey = panes["coronal"].view.rendered_image()
        assert {0, 128} <= set(np.unique(grey).tolist())  # air and brain (40 HU) at 40/80
        trigger(win, "plane_coronal")  # View > Layout and reformats > Coronal: it alone
        assert win.mpr.layout == "1x1"
        assert panes["coronal"].isVisible()
        assert not win.image.widget.isVisible() and not panes["sagittal"].isVisible()
        assert win.actions_.all["layout_1x1"].isChecked()
        trigger(win, "layout_1x3")
        trigger(win, "layout_1x1")  # back to the chosen plane alone
        assert panes["coronal"].isVisible() and not win.image.widget.isVisible()
        trigger(win, "plane_axial")
        assert win.image.widget.isVisible() and not panes["coronal"].isVisible()

    def test_reformat_follows_the_window_and_has_markers(self, qtbot, win) -> None:  # noqa: ANN001
        trigger(win, "plane_coronal")
        view = win.mpr.panes["coronal"].view
        assert shown(win, "coronal") is not None
        c = view.corners
        assert (c.text("left"), c.text("right"), c.text("top"), c.text("bottom")) == (
            "R",
            "L",
            "H",
            "F",
        )
        assert "Coronal" in c.text("top_left")
        assert "Slab off" in c.text("top_right") and "Im " in c.text("top_right")
        trigger(win, "preset_bone")
        assert "bone" in c.text("bottom_left")
        before = view.rendered_image().copy()
        trigger(win, "preset_brain")
        assert not np.array_equal(before, view.rendered_image())

    def test_loading_message_until_every_slice_is_read(
        self,
        qtbot,
        make_window,
        study_dir,
        slow_decode,  # noqa: ANN001
    ) -> None:
        slow_decode(0.05)
        w = make_window(persist=False, model_path=False)
        trigger(w, "layout_1x3")
        w.open_paths([str(study_dir)])
        qtbot.waitUntil(lambda: w.reader is not None, timeout=10_000)
        pane = w.mpr.panes["coronal"]
        assert "Loading" in pane.view.message.text() and pane.view.message.isVisible()
        assert pane.shown is None
        qtbot.waitUntil(lambda: not w.loader.busy, timeout=20_000)
        assert shown(w, "coronal") is not None
        assert not pane.view.message.isVisible()


class TestLinkedScrolling:
    def test_wheel_on_a_reformat_moves_its_index_and_its_line(self, qtbot, win) -> None:  # noqa: ANN001
        trigger(win, "layout_1x3")
        pane = win.mpr.panes["coronal"]
        shown(win, "coronal")
        start = win.mpr.index["coronal"]
        line_before = win.mpr.axial_lines.line("coronal")
        wheel(pane.view.graphics.viewport(), QtCore.QPointF(50, 50), -3)  # 3 notches, next
        assert win.mpr.index["coronal"] == start + 3
        assert pane.slider.value() == start + 3
        assert f"Im {start + 4}/" in pane.view.corners.text("top_right")
        line_after = win.mpr.axial_lines.line("coronal")
        # Coronal index counts rows from anterior: the line on the axial moves 3 rows down.
        assert line_after[0][1] == pytest.approx(line_before[0][1] + 3)
        assert win.current_index == N_SLICES // 2  # the axial slice stays
        assert shown(win, "coronal").plane.origin[1] == pytest.approx(
            (start + 3) * SPACING[0], abs=1e-6
        )

    def test_keys_move_the_reformat_shown_alone(self, qtbot, win) -> None:  # noqa: ANN001
        trigger(win, "plane_coronal")
        shown(win, "coronal")
        start, axial = win.mpr.index["coronal"], win.current_index
        trigger(win, "next")  # Down
        assert win.mpr.index["coronal"] == start + 1
        trigger(win, "prev10")  # PgUp
        assert win.mpr.index["coronal"] == start - 9
        trigger(win, "first")  # Home
        assert win.mpr.index["coronal"] == 0
        assert win.mpr.panes["coronal"].slider.value() == 0
        trigger(win, "last")  # End
        assert win.mpr.index["coronal"] == win.mpr.counts["coronal"] - 1
        assert win.current_index == axial  # the axial slice stayed where it was
        shown(win, "coronal")
        trigger(win, "layout_1x3")  # with every view on screen the keys step axial
        trigger(win, "next")
        assert win.current_index == axial + 1
        assert win.mpr.index["coronal"] == win.mpr.counts["coronal"] - 1

    def test_scrolling_axial_moves_its_line_on_the_reformats(self, qtbot, win) -> None:  # noqa: ANN001
        trigger(win, "layout_1x3")
        shown(win, "coronal")
        before = win.mpr.panes["coronal"].lines.line("axial")
        wheel(win.image_view.graphics.viewport(), QtCore.QPointF(50, 50), -1)
        assert win.current_index == N_SLICES // 2 + 1
        after = win.mpr.panes["coronal"].lines.line("axial")
        # Up is the head: the next slice (5 mm higher) is 5 mm / 0.6 mm px higher up.
        assert after[0][1] == pytest.approx(before[0][1] - SLICE_GAP / SPACING[0])

    def test_click_moves_the_other_views_to_the_point(self, qtbot, win) -> None:  # noqa: ANN001
        trigger(win, "layout_1x3")
        shown(win, "coronal")
        shown(win, "sagittal")
        click(qtbot, win.image_view, 20, 30)  # axial point: column 20, row 30
        assert win.mpr.index == {"coronal": 30, "sagittal": round(20 * SPACING[1] / SPACING[0])}
        assert win.current_index == N_SLICES // 2
        cor = shown(win, "coronal")
        assert cor.plane.origin[1] == pytest.approx(30 * SPACING[0])
        # The reference lines cross at the clicked point.
        (x0, _), (x1, _) = win.mpr.axial_lines.line("sagittal")
        (_, y0), (_, y1) = win.mpr.axial_lines.line("coronal")
        assert x0 == x1 == pytest.approx(20, abs=SPACING[0] / SPACING[1] / 2)
        assert y0 == y1 == pytest.approx(30)
        # A click on the coronal two slices higher moves the axial slice there.
        y_axial = win.mpr.panes["coronal"].lines.line("axial")[0][1]
        click(qtbot, win.mpr.panes["coronal"].view, 40, y_axial - 2 * SLICE_GAP / SPACING[0])
        assert win.current_index == N_SLICES // 2 + 2
        assert win.mpr.index["coronal"] == 30  # the clicked view stays where it is
        assert win.mpr.index["sagittal"] == 40

    def test_a_click_in_1x1_does_not_move_anything(self, qtbot, win) -> None:  # noqa: ANN001
        before = dict(win.mpr.index)
        click(qtbot, win.image_view, 5, 5)
        assert win.mpr.index == before
        assert win.mpr.axial_lines.line("coronal") is None  # no lines without the others


class TestSlab:
    def test_slab_box_and_menu(self, qtbot, win) -> None:  # noqa: ANN001
        trigger(win, "plane_sagittal")
        thin = shown(win, "sagittal").image.copy()
        box = win.findChild(QtWidgets.QComboBox, "slab_box")
        i = next(k for k in range(box.count()) if box.itemText(k) == "MIP 10 mm")
        box.activated.emit(i)  # what choosing the entry does
        mip = shown(win, "sagittal")
        assert "Slab 10 mm MIP" in win.mpr.panes["sagittal"].view.corners.text("top_right")
        assert mip.image.shape == thin.shape
        assert np.all(mip.image[mip.valid] >= thin[mip.valid] - 1e-3)
        assert win.actions_.all["slab_10"].isChecked()
        trigger(win, "slabmode_mean")
        mean = shown(win, "sagittal")
        assert np.all(mean.image[mean.valid] <= mip.image[mean.valid] + 1e-3)
        assert box.currentText() == "Mean 10 mm"
        trigger(win, "slab_0")
        assert np.array_equal(shown(win, "sagittal").image, thin)
        assert box.currentText() == "Slab off"


class TestScreenshot:
    def test_parser_takes_plane(self) -> None:
        assert _gui_parser().parse_args(["x", "--plane", "sagittal"]).plane == "sagittal"
        with pytest.raises(SystemExit):
            _gui_parser().parse_args(["x", "--plane", "oblique"])

    def test_coronal_screenshot(self, qtbot, study_dir, tmp_path) -> None:  # noqa: ANN001
        out = tmp_path / "cor.png"
        assert (
            run_gui(
                [str(study_dir)],
                screenshot=str(out),
                plane="coronal",
                slice_index=45,
                preset="bone",
                model=False,  # type: ignore[arg-type]
            )
            == 0
        )
        img = QtGui.QImage(str(out))
        assert not img.isNull()
        assert run_gui([], screenshot=str(tmp_path / "x.png"), plane="oblique") == 2


def _headers(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.glob("*.dcm"))]


@pytest.mark.realct
class TestRealTiltedHead:
    def test_reformat_sizes_in_mm_on_ge_head(self, qtbot, make_window) -> None:  # noqa: ANN001
        folder = realct("ge_head")
        w = make_window(persist=False, model_path=False)
        open_and_wait(qtbot, w, [folder], timeout=60_000)
        trigger(w, "layout_1x3")
        cor, sag = shown(w, "coronal"), shown(w, "sagittal")
        # Independent of the app: the stack's extent from the headers, tilt included.
        hs = _headers(folder)
        row = np.array(hs[0].ImageOrientationPatient[:3], dtype=float)
        col = np.array(hs[0].ImageOrientationPatient[3:], dtype=float)
        normal = np.cross(row, col)
        ipp = np.array([h.ImagePositionPatient for h in hs], dtype=float)
        order = np.argsort(ipp @ normal)
        ipp, thick = ipp[order], [float(hs[k].SliceThickness) for k in order]
        rs, cs = (float(v) for v in hs[0].PixelSpacing)
        tilt = math.degrees(math.acos(abs(normal[2])))
        assert tilt == pytest.approx(18.5, abs=0.05)
        height = np.ptp(ipp @ normal) + thick[0] / 2 + thick[-1] / 2
        assert sorted({thick[0], thick[-1]}) == [4.0, 7.0]  # uneven: the end slices differ
        cor_width = hs[0].Columns * cs
        # The tilted stack is sheared along the column direction: a sagittal covers the
        # rows plus the shear of the table feed (a plain volume[:, :, c] would not).
        sag_width = hs[0].Rows * rs + np.ptp(ipp @ col)
        assert np.ptp(ipp @ col) > 30  # a real shear, not noise
        px = min(rs, cs)
        for view_, (h, wd) in (
            (w.mpr.panes["coronal"].view, (height, cor_width)),
            (w.mpr.panes["sagittal"].view, (height, sag_width)),
        ):
            got_h, got_w = size_mm(view_)
            assert got_h == pytest.approx(h, abs=px) and got_w == pytest.approx(wd, abs=px)
        assert cor.pixel_spacing == sag.pixel_spacing == (px, px)  # square pixels, not squashed
        # Perpendicular to the tilted slices: an axial slice is a level line on both.
        for plane in ("coronal", "sagittal"):
            (_, y0), (_, y1) = w.mpr.panes[plane].lines.line("axial")
            assert y0 == pytest.approx(y1)
            assert "Tilt 18.5° corrected" in w.mpr.panes[plane].view.corners.text("top_right")
        assert cor.orientation_labels()["left"] == "R"
        # Linked: a click on the sagittal at mid height takes the axial view to that level.
        sag_view = w.mpr.panes["sagittal"].view
        y_mid = sag.image.shape[0] / 2
        click(qtbot, sag_view, sag.image.shape[1] / 2, y_mid)
        level = sag.plane.to_patient(sag.image.shape[1] / 2, y_mid) @ normal
        assert w.current_index == int(np.argmin(np.abs(ipp @ normal - level)))
