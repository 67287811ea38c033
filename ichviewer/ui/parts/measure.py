"""Measurements: the tools (ruler M, ellipse ROI O, freehand / polygon ROI L, ABC/2 volume V,
Esc leaves a tool), their drawings on the slice and the Measurements dock (slice, kind,
value; Delete removes). The measurements belong to the series: saved beside its marks
(:func:`ichviewer.io.marks.save_measurements`) on every change and listed in the export.

Tools draw with the left button (Shift+left still pans). Ruler, ellipse: drag. Freehand:
drag around the region; polygon: click the corners, double-click to close. ABC/2: drag A
(longest diameter) then B (perpendicular to A) on the slice where the bleed is largest,
then scroll to the first slice with blood and click, then to the last one and click.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.core.measure import (
    EllipseROI,
    HematomaVolume,
    Measurement,
    Measurements,
    PolygonROI,
    Ruler,
)
from ichviewer.io.marks import load_measurements, save_measurements
from ichviewer.ui.measure_items import MeasureGraphic, ellipse_points
from ichviewer.ui.parts.common import RIGHT, StatusBar, column, make_dock
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import ViewerState

logger = logging.getLogger("ichviewer.ui")

#: tool name -> (menu text, key, what the reader does first)
TOOLS = {
    "ruler": ("&Ruler", "M", "Ruler: drag across what to measure"),
    "ellipse": ("&Ellipse ROI", "O", "Ellipse ROI: drag from corner to corner"),
    "polygon": (
        "&Freehand / polygon ROI",
        "L",
        "Freehand ROI: drag around the region (or click corners, double-click to close)",
    ),
    "abc": ("&ABC/2 hematoma volume", "V", "ABC/2: drag A, the longest diameter of the bleed"),
}
KIND_NAMES = {
    "ruler": "Ruler",
    "ellipse": "Ellipse ROI",
    "polygon": "Freehand ROI",
    "abc2": "ABC/2",
}
ABC_STEPS = {
    "B": "ABC/2: drag B, the longest diameter perpendicular to A",
    "first": "ABC/2: scroll to the FIRST slice with blood and click the image",
    "last": "ABC/2: scroll to the LAST slice with blood and click the image",
}
MIN_DRAG = 0.5  # image pixels: a shorter drag is a click


class MeasurePart:
    """Owns the tool, the drawings and the Measurements dock."""

    def __init__(
        self, win: QtWidgets.QMainWindow, state: ViewerState, settings: ViewerSettings, view: Any
    ) -> None:
        self.state, self.settings, self.view = state, settings, view
        self.status = StatusBar(win)
        self.items: Measurements | None = None
        self.tool: str | None = None
        self.tool_actions: dict[str, QtGui.QAction] = {}  # set by the window's actions
        self.cancel_action: QtGui.QAction | None = None
        self._draft: list[tuple[float, float]] = []
        self._dragged = False
        self._abc: dict[str, Any] = {}
        self._graphics: list[MeasureGraphic] = []
        self._draft_graphic = MeasureGraphic(view.annotations, draft=True)
        self.table = QtWidgets.QTableWidget(0, 3)
        self.table.setObjectName("measure_table")
        self.table.setHorizontalHeaderLabels(("Slice", "Kind", "Value"))
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.delete_button.setObjectName("measure_delete")
        self.hint = QtWidgets.QLabel("Tools > Ruler (M), Ellipse (O), Freehand (L), ABC/2 (V)")
        self.hint.setObjectName("measure_hint")
        self.hint.setWordWrap(True)
        self.widget = column(self.hint, self.table, self.delete_button, stretch=1)
        self.dock = make_dock(win, "Measurements", "measure_dock", self.widget, RIGHT)
        delete = QtGui.QShortcut(QtGui.QKeySequence.StandardKey.Delete, self.table)
        delete.setContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        delete.activated.connect(self.delete_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.table.cellClicked.connect(self._on_row_clicked)
        view.tool_event.connect(self._on_tool_event)
        state.closing.connect(self._on_closing)
        state.series.connect(self._on_series)
        state.index_changed.connect(self._redraw)
        state.display_changed.connect(self._on_display)

    # -- following the state ---------------------------------------------------------------

    def _on_closing(self) -> None:
        self.set_tool(None)

    def _on_series(self) -> None:
        r = self.state.reader
        self.items = None
        if r is not None:
            s = r.series
            self.items, warning = load_measurements(s.study_instance_uid, s.series_instance_uid)
            if warning:
                self.status.say(warning, 2)
        self._fill_table()

    def _on_display(self) -> None:
        """After a flip or turn the labels move to stay right of their shapes on screen."""
        if self._graphics and self.state.display.view_matrix.tobytes() != self._shown:
            self._redraw()

    def _redraw(self) -> None:
        """Draw the measurements of the slice on screen (and the draft, if any)."""
        for g in self._graphics:
            g.remove()
        self._graphics = []
        self._shown = self.state.display.view_matrix.tobytes()
        if self.items is None:
            return
        for m in self.items.on_slice(self.state.index):
            g = MeasureGraphic(self.view.annotations)
            g.show_measurement(m, self.label(m), self.state.display.view_matrix)
            self._graphics.append(g)
        a = self._abc.get("a")  # A and B drawn so far: only on their own slice
        self._draft_graphic.setVisible(a is None or a.index == self.state.index)

    # -- values ----------------------------------------------------------------------------

    def _spacing(self) -> tuple[float, float]:
        s = self.state.reader.series
        ps = s.pixel_spacing or s.slices[self.state.index].pixel_spacing
        return (float(ps[0]), float(ps[1])) if ps else (1.0, 1.0)

    def _positions(self) -> list[float]:
        return [float(ref.position_mm) for ref in self.state.reader.series.slices]

    def values(self, m: Measurement) -> dict[str, Any]:
        """What a measurement measures, in mm, HU and mL (None where not known yet)."""
        r, ps = self.state.reader, self._spacing()
        if isinstance(m, Ruler):
            return {"length_mm": m.length_mm(ps)}
        if isinstance(m, HematomaVolume):
            a, b, c = m.diameters_mm(ps, self._positions())
            return {
                "a_mm": a,
                "b_mm": b,
                "c_mm": c,
                "volume_ml": m.volume_ml(ps, self._positions()),
                "a_b_angle_deg": m.perpendicularity_deg(ps),
            }
        if not r.loaded[m.index] or r.failed[m.index]:
            return {"stats": None}
        return {"stats": m.stats(r.volume[m.index], ps).to_json()}

    def summary(self, m: Measurement) -> str:
        """One line: '12.3 mm', 'mean 45.2 ± 3.1 HU …', '12.4 mL (A 40.0 …)'."""
        v = self.values(m)
        if "length_mm" in v:
            return f"{v['length_mm']:.1f} mm"
        if "volume_ml" in v:
            return (
                f"{v['volume_ml']:.1f} mL (A {v['a_mm']:.1f} × B {v['b_mm']:.1f} × "
                f"C {v['c_mm']:.1f} mm / 2; slices {m.first_index + 1}–{m.last_index + 1})"
            )
        st = v["stats"]
        if st is None:
            return "slice not loaded"
        if not st["n_pixels"]:
            return "no pixel inside"
        return (
            f"mean {st['mean']:.1f} ± {st['sd']:.1f} HU, min {st['min']:.0f}, "
            f"max {st['max']:.0f}, area {st['area_mm2']:.1f} mm²"
        )

    def label(self, m: Measurement) -> str:
        """The text drawn beside a measurement."""
        text = self.summary(m)
        if isinstance(m, (EllipseROI, PolygonROI)):
            return text.replace(", min", "\nmin").replace(", area", "\narea")
        if isinstance(m, HematomaVolume):
            head, _, rest = text.partition(" (")
            return f"ABC/2 {head}\n{rest.rstrip(')')}"
        return text

    def export_items(self) -> list[dict[str, Any]]:
        """The measurements for File > Export results: geometry, values and a summary."""
        if self.items is None or self.state.reader is None:
            return []
        slices = self.state.reader.series.slices
        return [
            {
                **m.to_json(),
                "slice": m.index + 1,
                "sop_instance_uid": slices[m.index].sop_instance_uid,
                **self.values(m),
                "summary": f"{KIND_NAMES[m.kind]} {self.summary(m)}",
            }
            for m in self.items
        ]

    # -- the list --------------------------------------------------------------------------

    def _fill_table(self) -> None:
        items = list(self.items or [])
        self.table.setRowCount(len(items))
        for row, m in enumerate(items):
            for col, text in enumerate((str(m.index + 1), KIND_NAMES[m.kind], self.summary(m))):
                cell = QtWidgets.QTableWidgetItem(text)
                cell.setToolTip(text)
                self.table.setItem(row, col, cell)
        self.table.resizeColumnsToContents()
        self._redraw()

    def _on_row_clicked(self, row: int, _col: int) -> None:
        if self.items is not None and 0 <= row < len(self.items):
            self.state.set_index(self.items[row].index)

    def delete_selected(self) -> None:
        """Delete the selected rows (Delete in the list)."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()}, reverse=True)
        if self.items is None or not rows:
            return
        for row in rows:
            self.items.pop(row)
        self._changed(f"{len(rows)} measurement{'s' * (len(rows) != 1)} deleted")

    def add(self, m: Measurement) -> None:
        """Keep a new measurement: listed, drawn, saved."""
        self.items.add(m)
        self.dock.raise_()
        self._changed(f"{KIND_NAMES[m.kind]}: {self.summary(m)}")

    def _changed(self, message: str) -> None:
        self._fill_table()
        try:
            save_measurements(self.items)
        except OSError as exc:
            message = f"Measurements NOT saved: {exc.strerror or exc}"
            logger.error("measurements could not be saved: %s", exc)
        self.status.say(message)

    # -- tools -----------------------------------------------------------------------------

    def set_tool(self, tool: str | None) -> None:
        """ruler | ellipse | polygon | abc, or None (Esc): back to window / level drags."""
        if tool is not None and self.state.reader is None:
            self.status.say("Open a study to measure")
            tool = None
        self.tool = tool
        self._abc = {"step": "A"} if tool == "abc" else {}
        self._clear_draft()
        self.view.set_tool_active(tool is not None)
        for name, act in self.tool_actions.items():
            with QtCore.QSignalBlocker(act):
                act.setChecked(name == tool)
        if self.cancel_action is not None:
            self.cancel_action.setEnabled(tool is not None)  # Esc is free when no tool is on
        self._prompt(TOOLS[tool][2] if tool else "")

    def toggle_tool(self, tool: str, on: bool) -> None:
        self.set_tool(tool if on else None)

    def cancel(self) -> None:
        """Esc: a draft is dropped first, then the tool is left."""
        if self._draft or self._abc.get("step") not in (None, "A"):
            self.set_tool(self.tool)
            self._prompt("Cancelled; " + (TOOLS[self.tool][2] if self.tool else ""))
        else:
            self.set_tool(None)

    def _prompt(self, text: str) -> None:
        self.hint.setText(text or "Tools > Ruler (M), Ellipse (O), Freehand (L), ABC/2 (V)")
        if text:
            self.status.say(text)

    def _clear_draft(self) -> None:
        self._draft, self._dragged = [], False
        self._draft_graphic.set_lines([])
        self._draft_graphic.set_label("", (0, 0))

    def _on_tool_event(self, kind: str, x: float, y: float) -> None:
        if self.tool is None or self.items is None:
            return
        p = (x, y)
        step = self._abc.get("step")
        if step in ("first", "last"):
            if kind == "press":
                self._abc_slice(step)
            return
        if self.tool == "polygon":
            self._polygon_event(kind, p)
            return
        if kind == "press":
            self._draft = [p, p]
        elif kind in ("move", "release") and self._draft:
            self._draft[1] = p
            if kind == "release":
                self._finish_two_point()
                return
        self._show_draft()

    def _polygon_event(self, kind: str, p: tuple[float, float]) -> None:
        if kind == "press":
            if not self._draft:
                self._draft, self._dragged = [p], False
            elif math.dist(self._draft[-1], p) > MIN_DRAG:
                self._draft.append(p)
        elif kind == "move" and self._draft:
            if math.dist(self._draft[-1], p) > 1.0:
                self._draft.append(p)
                self._dragged = True
        elif kind == "release" and self._dragged or kind == "double":
            if len(self._draft) >= 3:
                self.add(PolygonROI(self.state.index, list(self._draft)))
            self._clear_draft()
            return
        self._show_draft()

    def _show_draft(self) -> None:
        d = self._draft
        if self.tool == "ellipse" and len(d) == 2:
            c, r = self._ellipse_of(*d)
            self._draft_graphic.set_lines([ellipse_points(c, r)])
        elif d:
            pts = d + [d[0]] if self.tool == "polygon" and self._dragged else d
            self._draft_graphic.set_lines([([q[0] for q in pts], [q[1] for q in pts])])
        if self.tool in ("ruler", "abc") and len(d) == 2:
            length = Ruler(self.state.index, d[0], d[1]).length_mm(self._spacing())
            self._draft_graphic.set_label(f"{length:.1f} mm", (d[1][0] + 2, d[1][1]))

    @staticmethod
    def _ellipse_of(p0: tuple[float, float], p1: tuple[float, float]) -> tuple:
        c = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
        return c, (abs(p1[0] - p0[0]) / 2, abs(p1[1] - p0[1]) / 2)

    def _finish_two_point(self) -> None:
        p0, p1 = self._draft
        self._clear_draft()
        if math.dist(p0, p1) < MIN_DRAG:
            return
        i = self.state.index
        if self.tool == "ruler":
            self.add(Ruler(i, p0, p1))
        elif self.tool == "ellipse":
            self.add(EllipseROI(i, *self._ellipse_of(p0, p1)))
        elif self._abc["step"] == "A":
            self._abc.update(step="B", a=Ruler(i, p0, p1))
            self._prompt(ABC_STEPS["B"])
            self._show_abc_parts()
        elif self._abc["step"] == "B":
            if i != self._abc["a"].index:
                self._prompt(
                    f"ABC/2: draw B on the same slice as A (slice {self._abc['a'].index + 1})"
                )
                return
            self._abc.update(step="first", b=Ruler(i, p0, p1))
            self._prompt(ABC_STEPS["first"])
            self._show_abc_parts()

    def _show_abc_parts(self) -> None:
        rulers = [self._abc[k] for k in ("a", "b") if k in self._abc]
        lines = [([r.p0[0], r.p1[0]], [r.p0[1], r.p1[1]]) for r in rulers]
        self._draft_graphic.set_lines(lines)
        ps = self._spacing()
        text = " ".join(
            f"{k.upper()} {self._abc[k].length_mm(ps):.1f} mm" for k in "ab" if k in self._abc
        )
        end = rulers[-1].p1
        self._draft_graphic.set_label(text, (end[0] + 2, end[1]))

    def _abc_slice(self, step: str) -> None:
        i = self.state.index
        if step == "first":
            self._abc.update(step="last", first=i)
            self._prompt(ABC_STEPS["last"] + f" (first: slice {i + 1})")
            return
        first, last = sorted((self._abc["first"], i))
        a, b = self._abc["a"], self._abc["b"]
        if not first <= a.index <= last:
            self._abc["step"] = "first"
            self._prompt(
                f"ABC/2: slices {first + 1}–{last + 1} must include slice {a.index + 1} "
                "(A and B); click the first slice with blood again"
            )
            return
        self.set_tool("abc")
        self.add(HematomaVolume(a, b, first, last))
