"""Measuring as a reader does: keys and mouse drags on the slice, values read from the
Measurements list, what is saved with the series and exported."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid
from PySide6 import QtCore, QtWidgets

from ichviewer.core.measure import EllipseROI, HematomaVolume, PolygonROI, Ruler
from ichviewer.io.marks import measurements_path
from tests.ui.conftest import AIR, SPACING, open_and_wait, write_slice
from tests.ui.test_main_window import mouse_drag, screen_pos_of_pixel, send_mouse, viewport

Qt = QtCore.Qt
T = QtCore.QEvent.Type


@pytest.fixture
def win(qtbot, make_window, study_dir):  # noqa: ANN001, ANN201
    w = make_window(model_path=False)
    open_and_wait(qtbot, w, [study_dir])
    return w


def drag_pixels(qtbot, win, p0, p1) -> None:  # noqa: ANN001
    """A left drag from image pixel p0 to p1 (col, row)."""
    a, b = screen_pos_of_pixel(win, *p0), screen_pos_of_pixel(win, *p1)
    mouse_drag(qtbot, viewport(win), a, (b.x() - a.x(), b.y() - a.y()))


def click_pixel(win, p, double: bool = False) -> None:  # noqa: ANN001
    pos, left = screen_pos_of_pixel(win, *p), Qt.MouseButton.LeftButton
    none = Qt.MouseButton.NoButton
    send_mouse(viewport(win), T.MouseButtonPress, pos, left, left)
    send_mouse(viewport(win), T.MouseButtonRelease, pos, left, none)
    if double:
        send_mouse(viewport(win), T.MouseButtonDblClick, pos, left, left)
        send_mouse(viewport(win), T.MouseButtonRelease, pos, left, none)


def table_text(win, row: int, col: int) -> str:  # noqa: ANN001
    return win.measure.table.item(row, col).text()


class TestRuler:
    def test_length_in_mm_on_known_spacing(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_M)
        assert win.measure.tool == "ruler"
        window_before = win.display.window
        drag_pixels(qtbot, win, (10, 20), (40, 60))
        assert win.display.window == window_before  # a tool drag is not a W/L drag
        (m,) = list(win.measure.items)
        assert isinstance(m, Ruler) and m.index == win.current_index
        assert m.p0 == pytest.approx((10, 20), abs=0.3)
        assert m.p1 == pytest.approx((40, 60), abs=0.3)
        expected = math.hypot(30 * SPACING[1], 40 * SPACING[0])  # 27 mm across, 24 mm down
        assert m.length_mm(SPACING) == pytest.approx(expected, abs=0.3)
        assert table_text(win, 0, 0) == str(win.current_index + 1)
        assert table_text(win, 0, 2) == f"{m.length_mm(SPACING):.1f} mm"
        (g,) = win.measure._graphics
        assert g.label.textItem.toPlainText() == f"{m.length_mm(SPACING):.1f} mm"

    def test_escape_leaves_the_tool_and_drags_window_again(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_M)
        qtbot.keyClick(win, Qt.Key.Key_Escape)
        assert win.measure.tool is None and not win.tool_actions["tool_ruler"].isChecked()
        assert not win.tool_actions["tool_cancel"].isEnabled()
        before = win.display.window
        drag_pixels(qtbot, win, (10, 20), (40, 60))
        assert len(win.measure.items) == 0 and win.display.window != before

    def test_escape_mid_drag_drops_the_draft_only(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_L)
        click_pixel(win, (30, 70))
        click_pixel(win, (40, 70))
        assert len(win.measure._draft) == 2
        qtbot.keyClick(win, Qt.Key.Key_Escape)
        assert win.measure._draft == [] and win.measure.tool == "polygon"


class TestRoi:
    def test_ellipse_on_a_known_hu_patch(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_O)
        drag_pixels(qtbot, win, (33, 43), (47, 57))  # inside the 80 HU blood square
        (m,) = list(win.measure.items)
        assert isinstance(m, EllipseROI)
        v = win.measure.values(m)["stats"]
        assert (v["mean"], v["sd"], v["min"], v["max"]) == (80.0, 0.0, 80.0, 80.0)
        assert v["area_mm2"] == pytest.approx(v["n_pixels"] * SPACING[0] * SPACING[1])
        assert v["n_pixels"] == pytest.approx(math.pi * 7 * 7, rel=0.1)
        assert table_text(win, 0, 2).startswith("mean 80.0 ± 0.0 HU, min 80, max 80")

    def test_ellipse_over_two_tissues(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_O)
        drag_pixels(qtbot, win, (24, 34), (56, 66))  # blood (80) inside brain (40)
        (m,) = list(win.measure.items)
        v = win.measure.values(m)["stats"]
        assert (v["min"], v["max"]) == (40.0, 80.0) and 40 < v["mean"] < 80 and v["sd"] > 0

    def test_freehand_drag_and_polygon_clicks(self, qtbot, win) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_L)
        corners = [(22, 62), (50, 62), (50, 68), (22, 68)]  # brain only (40 HU)
        vp, left = viewport(win), Qt.MouseButton.LeftButton
        send_mouse(vp, T.MouseButtonPress, screen_pos_of_pixel(win, *corners[0]), left, left)
        for c in [*corners[1:], corners[0]]:
            pos = screen_pos_of_pixel(win, *c)
            send_mouse(vp, T.MouseMove, pos, Qt.MouseButton.NoButton, left)
        send_mouse(vp, T.MouseButtonRelease, pos, left, Qt.MouseButton.NoButton)
        (m,) = list(win.measure.items)
        assert isinstance(m, PolygonROI)
        v = win.measure.values(m)["stats"]
        assert (v["mean"], v["sd"]) == (40.0, 0.0)
        assert v["n_pixels"] == pytest.approx(29 * 7, rel=0.15)
        # The same rectangle by clicking its corners, double-click to close.
        for c in corners[:-1]:
            click_pixel(win, c)
        click_pixel(win, corners[-1], double=True)
        assert len(win.measure.items) == 2
        v2 = win.measure.values(win.measure.items[1])["stats"]
        assert v2["mean"] == 40.0 and v2["n_pixels"] == pytest.approx(v["n_pixels"], rel=0.1)


class TestListAndStorage:
    def test_delete_save_reopen_export(self, qtbot, win, study_dir, tmp_path) -> None:  # noqa: ANN001
        qtbot.keyClick(win, Qt.Key.Key_M)
        drag_pixels(qtbot, win, (10, 20), (40, 20))
        win.set_slice(2)
        drag_pixels(qtbot, win, (10, 30), (10, 50))
        assert [table_text(win, r, 0) for r in range(2)] == [str(7), "3"]
        s = win.reader.series
        path = measurements_path(s.study_instance_uid, s.series_instance_uid)
        assert len(json.loads(path.read_text())["items"]) == 2
        # Clicking a row shows its slice; Delete removes the selected one.
        win.measure.table.selectRow(0)
        win.measure.table.cellClicked.emit(0, 0)
        assert win.current_index == 6
        win.measure.table.setFocus()
        qtbot.keyClick(win.measure.table, Qt.Key.Key_Delete)
        assert len(win.measure.items) == 1 and win.measure.items[0].index == 2
        assert len(json.loads(path.read_text())["items"]) == 1
        # The export lists it with its value and slice.
        out = win.export_results(tmp_path / "r.json")
        (m,) = json.loads(out.read_text())["studies"][0]["measurements"]
        assert m["kind"] == "ruler" and m["slice"] == 3
        assert m["length_mm"] == pytest.approx(20 * SPACING[0], abs=0.3)
        assert m["summary"] == f"Ruler {m['length_mm']:.1f} mm"
        csv = win.export_results(tmp_path / "r.csv").read_text().splitlines()
        assert csv[0].endswith(",measurements") and csv[3].endswith(m["summary"])
        # Reopened: the measurement belongs to the series.
        open_and_wait(qtbot, win, [study_dir])
        assert len(win.measure.items) == 1 and win.measure.table.rowCount() == 1
        win.set_slice(2)
        assert len(win.measure._graphics) == 1
        win.set_slice(3)
        assert win.measure._graphics == []
        assert not any(study_dir.glob("*.json"))  # never in the study folder


@pytest.fixture(scope="module")
def ellipsoid_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    """13 slices 5 mm apart with a 60 HU ellipsoid: semi-axes 20 columns (18 mm), 25 rows
    (15 mm), 17.5 mm along z, centred on slice 6 (slices 3..9 hold blood)."""
    d = tmp_path_factory.mktemp("ellipsoid")
    series, study = generate_uid(), generate_uid()
    rows, cols = 128, 96
    yy, xx = np.mgrid[0:rows, 0:cols]
    for i in range(13):
        z = (i - 6) * 5.0
        hu = np.full((rows, cols), AIR, dtype=np.float32)
        hu[10:118, 8:88] = 30.0
        r2 = 1 - (z / 17.5) ** 2
        if r2 > 0:
            inside = ((xx - 48) / 20) ** 2 + ((yy - 64) / 25) ** 2 <= r2
            hu[inside] = 60.0
        write_slice(d / f"e{i:02d}.dcm", hu, index=i, series_uid=series, study_uid=study)
    return d


def test_abc2_on_an_ellipsoid_phantom(qtbot, make_window, ellipsoid_dir) -> None:  # noqa: ANN001
    win = make_window(model_path=False)
    open_and_wait(qtbot, win, [ellipsoid_dir])
    win.set_slice(6)
    qtbot.keyClick(win, Qt.Key.Key_V)
    assert "drag A" in win.measure.hint.text()
    drag_pixels(qtbot, win, (28, 64), (68, 64))  # A: 40 columns = 36 mm
    assert "drag B" in win.measure.hint.text()
    drag_pixels(qtbot, win, (48, 39), (48, 89))  # B: 50 rows = 30 mm
    assert "FIRST slice" in win.measure.hint.text()
    win.set_slice(3)
    assert not win.measure._draft_graphic.isVisible()  # A and B belong to slice 7
    click_pixel(win, (48, 64))
    assert "LAST slice" in win.measure.hint.text()
    win.set_slice(9)
    click_pixel(win, (48, 64))
    (m,) = list(win.measure.items)
    assert isinstance(m, HematomaVolume) and (m.first_index, m.last_index) == (3, 9)
    v = win.measure.values(m)
    assert (v["a_mm"], v["b_mm"]) == (pytest.approx(36, abs=0.3), pytest.approx(30, abs=0.3))
    assert v["c_mm"] == pytest.approx(35.0)  # 7 slices x 5 mm
    assert v["volume_ml"] == pytest.approx(36 * 30 * 35 / 2000, rel=0.02)  # 18.9 mL
    true_ml = 4 / 3 * math.pi * 18 * 15 * 17.5 / 1000  # 19.8 mL: ABC/2 reads ~4.5 % low
    assert v["volume_ml"] == pytest.approx(true_ml, rel=0.08)
    assert v["a_b_angle_deg"] == pytest.approx(90, abs=1)
    ml = f"{v['volume_ml']:.1f} mL"
    assert table_text(win, 0, 1) == "ABC/2" and table_text(win, 0, 2).startswith(ml)
    assert "slices 4–10" in table_text(win, 0, 2)
    win.set_slice(6)
    (g,) = win.measure._graphics
    assert g.label.textItem.toPlainText().startswith(f"ABC/2 {ml}")


def test_abc2_asks_again_when_the_slices_miss_a_and_b(qtbot, make_window, ellipsoid_dir) -> None:  # noqa: ANN001
    win = make_window(model_path=False)
    open_and_wait(qtbot, win, [ellipsoid_dir])
    win.set_slice(6)
    qtbot.keyClick(win, Qt.Key.Key_V)
    drag_pixels(qtbot, win, (28, 64), (68, 64))
    drag_pixels(qtbot, win, (48, 39), (48, 89))
    for i in (8, 10):
        win.set_slice(i)
        click_pixel(win, (48, 64))
    assert len(win.measure.items) == 0 and "must include slice 7" in win.measure.hint.text()
    QtWidgets.QApplication.processEvents()
