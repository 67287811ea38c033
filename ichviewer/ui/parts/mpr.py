"""Multiplanar reformats in the window: coronal and sagittal views of the loaded series beside
(1x3) or instead of (1x1) the axial view, in mm (:mod:`ichviewer.core.mpr` samples by patient
position, so uneven spacing, slice thickness and gantry tilt are honoured), optionally as a
thick slab (MIP or mean), with cross-reference lines and linked scrolling.

The axial slice is the state's index; each reformat keeps its own index (its wheel and
slider move it). In 1x3 a plain click on any view moves the other two views to that point
(:func:`ichviewer.core.mpr.locate`). Reformats are computed only once every slice is read,
on the part's own request runner (a 10 mm slab of a 512 x 512 study takes seconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from ichviewer.core import mpr
from ichviewer.core.windowing import Window
from ichviewer.errors import IchViewerError
from ichviewer.io import SeriesReader
from ichviewer.io.geometry import volume_geometry
from ichviewer.ui.display import display_lut, drag_window
from ichviewer.ui.image_view import ImageView
from ichviewer.ui.mpr_view import (
    ClickFilter,
    ReferenceLines,
    ReformatPane,
    reformat_corner_lines,
    reformat_job,
)
from ichviewer.ui.parts.common import StatusBar
from ichviewer.ui.runner import RequestRunner
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import Event, ViewerState

PLANES = ("axial", "coronal", "sagittal")
REFORMATS = ("coronal", "sagittal")
LAYOUTS = ("1x1", "1x3")
#: Slab thicknesses offered (mm; 0 = a plain reformat) and slab modes.
SLABS_MM = (0.0, 5.0, 10.0, 20.0)
SLAB_MODES = {"mip": "MIP", "mean": "Mean"}
#: Reformat frames: on the slices' own axes (tilt kept, as on the console) or the patient's.
FRAMES = {"acquisition": "slice axes", "patient": "patient axes"}
LOADING = "Loading the series…\nThe {plane} reformat appears when every slice has been read."
NO_STUDY = "No study open."
_INDEX_AXIS = {"sagittal": 0, "coronal": 1}  # reformat grid axis each index counts along


class MprPart:
    """Owns the coronal and sagittal panes, the splitter that lays them out beside the axial
    view (``axial_widget``, drawn in ``axial_view``), the reference lines and the reformat
    requests. ``changed`` is emitted when the layout, plane, slab or frame changes."""

    def __init__(
        self,
        win: QtWidgets.QMainWindow,
        state: ViewerState,
        settings: ViewerSettings,
        axial_widget: QtWidgets.QWidget,
        axial_view: ImageView,
    ) -> None:
        self.win, self.state, self.settings = win, state, settings
        self.status = StatusBar(win)
        self.layout, self.plane = "1x1", "axial"
        self.slab_mm, self.slab_mode, self.frame = 0.0, "mip", "acquisition"
        self.geometry: mpr.VolumeGeometry | None = None
        self.index = {p: 0 for p in REFORMATS}
        self.counts = {p: 0 for p in REFORMATS}
        self.changed = Event()
        self.runner = RequestRunner(win)  # two threads: one per reformat plane
        self._grid: mpr.ReformatGrid | None = None
        self._why = ""  # why this series has no reformats
        self._pending: int | None = None  # index asked for before the series was ready
        self._shown_key: dict[str, tuple | None] = {p: None for p in REFORMATS}
        self._wl_start: Window | None = None
        self.axial_widget, self.axial_view = axial_widget, axial_view
        self.axial_lines = ReferenceLines(axial_view)
        self.axial_clicks = ClickFilter(axial_view)
        self.axial_clicks.clicked.connect(lambda x, y: self._on_clicked("axial", x, y))
        self.panes = {p: ReformatPane(p, win) for p in REFORMATS}
        self.widget = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, win)
        self.widget.setObjectName("mpr_splitter")
        self.widget.setChildrenCollapsible(False)
        if win.centralWidget() is axial_widget:
            win.takeCentralWidget()  # kept: it goes into the splitter
        self.widget.addWidget(axial_widget)
        for plane, pane in self.panes.items():
            self.widget.addWidget(pane)
            v = pane.view
            v.view_box.slice_step.connect(lambda d, p=plane: self.step(p, d))
            pane.slider.valueChanged.connect(lambda i, p=plane: self.set_index(p, i))
            pane.clicks.clicked.connect(lambda x, y, p=plane: self._on_clicked(p, x, y))
            v.zoom_changed.connect(lambda _z, p=plane: self._update_corners(p))
            v.graphics.wl_drag_started.connect(self._on_wl_drag_started)
            v.graphics.wl_dragged.connect(self._on_wl_dragged)
            v.graphics.wl_drag_finished.connect(self._on_wl_drag_finished)
            pane.clear(NO_STUDY)
        win.setCentralWidget(self.widget)
        state.series.connect(self._on_series)
        state.index_changed.connect(self._on_index)
        state.display_changed.connect(self._on_display)
        state.message_changed.connect(self._on_message)
        self._on_display()
        self._apply_layout()

    # -- what the user chooses -------------------------------------------------------------

    def set_layout(self, layout: str) -> None:
        """1x1 (the chosen plane alone) or 1x3 (axial | coronal | sagittal)."""
        if layout not in LAYOUTS:
            raise ValueError(f"Unknown layout {layout!r}; choose one of {list(LAYOUTS)}")
        self.layout = layout
        self._apply_layout()
        self.changed.emit()

    def set_plane(self, plane: str) -> None:
        """Show ``plane`` alone (1x1)."""
        if plane not in PLANES:
            raise ValueError(f"Unknown plane {plane!r}; choose one of {list(PLANES)}")
        self.plane, self.layout = plane, "1x1"
        self._apply_layout()
        self.changed.emit()

    def show_plane(self, plane: str, index: int | None = None) -> None:
        """Show ``plane`` alone at ``index`` (None: where it is; a reformat starts in the
        middle); an index asked for before the series is read is applied once it is."""
        self.set_plane(plane)
        if index is None:
            return
        if plane == "axial":
            self.state.set_index(index)
        elif self.geometry is None:
            self._pending = int(index)
        else:
            self.set_index(plane, index)

    def set_slab(self, slab_mm: float, mode: str | None = None) -> None:
        """Thick slab of ``slab_mm`` (0: off) combined by ``mode`` (mip | mean)."""
        mode = mode or self.slab_mode
        if mode not in SLAB_MODES:
            raise ValueError(f"Unknown slab mode {mode!r}; choose one of {list(SLAB_MODES)}")
        if not slab_mm >= 0:
            raise ValueError(f"slab thickness must be >= 0 mm, got {slab_mm!r}")
        self.slab_mm, self.slab_mode = float(slab_mm), mode
        self._request_visible()
        self.changed.emit()

    def set_slab_mode(self, mode: str) -> None:
        self.set_slab(self.slab_mm, mode)

    def set_frame(self, frame: str) -> None:
        """Reformat on the slices' axes ("acquisition") or the patient's ("patient"); the
        reformats keep their relative position."""
        if frame not in FRAMES:
            raise ValueError(f"Unknown frame {frame!r}; choose one of {list(FRAMES)}")
        if frame == self.frame:
            return
        self.frame = frame
        if self.geometry is not None:
            old = dict(self.index), dict(self.counts)
            self._set_geometry(self.geometry)
            for p in REFORMATS:
                frac = old[0][p] / max(old[1][p] - 1, 1)
                self.index[p] = round(frac * (self.counts[p] - 1))
                self.panes[p].set_range(self.counts[p], self.index[p])
            self._request_visible()
            self._update_lines()
        self.changed.emit()

    def step(self, plane: str, delta: int) -> None:
        index = self.state.index if plane == "axial" else self.index[plane]
        self.set_index(plane, index + delta)

    def set_index(self, plane: str, index: int) -> None:
        """Move ``plane`` to ``index`` (clamped); axial is the state's slice."""
        if plane == "axial":
            self.state.set_index(index)
            return
        if self.geometry is None:
            return
        index = min(max(int(index), 0), self.counts[plane] - 1)
        if index == self.index[plane]:
            return
        self.index[plane] = index
        self.panes[plane].set_index(index)
        self._request(plane)
        self._update_lines()

    def fit(self) -> None:
        for pane in self.panes.values():
            pane.view.fit()

    def wait_until_idle(self, timeout_ms: int = 30_000) -> bool:
        """Until every requested reformat is on screen (tests, --screenshot)."""
        return self.runner.wait_until_idle(timeout_ms)

    def visible(self, plane: str) -> bool:
        return self.layout == "1x3" or self.plane == plane

    # -- following the state ---------------------------------------------------------------

    def _on_series(self) -> None:
        self.runner.cancel()
        self.geometry, self._grid, self._why = None, None, ""
        self._shown_key = {p: None for p in REFORMATS}
        self.axial_lines.clear()
        r = self.state.reader
        for p, pane in self.panes.items():
            pane.clear(LOADING.format(plane=p) if r is not None else self.state.message or NO_STUDY)

    def _on_message(self) -> None:
        if self.state.reader is None:
            for pane in self.panes.values():
                pane.view.set_message(self.state.message or NO_STUDY)

    def _on_index(self) -> None:
        r = self.state.reader
        if r is None:
            return
        if self.geometry is None and not self._why:
            if not np.all(r.loaded | r.failed):
                return  # a reformat cuts every slice: wait for all of them
            self._become_ready(r)
        self._update_lines()

    def _become_ready(self, reader: SeriesReader) -> None:
        try:
            g = volume_geometry(reader.series)
            if g.n_slices < 2:
                raise ValueError("a reformat needs at least two slices")
            self._set_geometry(g)
        # A series the geometry cannot describe still shows its axial slices.
        except (ValueError, IchViewerError) as exc:
            self.geometry, self._why = None, f"No reformats of this series:\n{exc}"
            for pane in self.panes.values():
                pane.clear(self._why)
            return
        for p in REFORMATS:
            self.index[p] = self.counts[p] // 2
        if self._pending is not None and self.plane in REFORMATS:
            self.index[self.plane] = min(max(self._pending, 0), self.counts[self.plane] - 1)
        self._pending = None
        for p, pane in self.panes.items():
            pane.set_range(self.counts[p], self.index[p])
        self._request_visible()

    def _set_geometry(self, g: mpr.VolumeGeometry) -> None:
        self._grid = mpr.reformat_grid(g, self.frame)  # type: ignore[arg-type]
        self.counts = {p: mpr.n_positions(g, p, self.frame) for p in REFORMATS}  # type: ignore[arg-type]
        self.geometry = g

    def _on_display(self) -> None:
        lut = display_lut(self.state.display)
        for p, pane in self.panes.items():
            pane.view.set_lut(lut)
            self._update_corners(p)

    # -- layout ----------------------------------------------------------------------------

    def _apply_layout(self) -> None:
        self.axial_widget.setVisible(self.visible("axial"))
        for p, pane in self.panes.items():
            pane.setVisible(self.visible(p))
        if self.layout == "1x3":
            self.widget.setSizes([1000, 1000, 1000])
        self._request_visible()
        self._update_lines()
        QtCore.QTimer.singleShot(0, self._fit_visible)

    def _fit_visible(self) -> None:
        self.axial_view.fit()
        self.fit()

    # -- requests --------------------------------------------------------------------------

    def _key(self, plane: str) -> tuple:
        return (self.index[plane], self.slab_mm, self.slab_mode, self.frame)

    def _request_visible(self) -> None:
        for p in REFORMATS:
            if self.visible(p) and self._shown_key[p] != self._key(p):
                self._request(p)

    def _request(self, plane: str) -> None:
        r, g = self.state.reader, self.geometry
        if r is None or g is None or not self.visible(plane):
            return
        key = self._key(plane)
        self.runner.submit(
            f"mpr_{plane}",
            reformat_job,
            r,
            g,
            plane,
            *key,
            on_returned=lambda ref, p=plane, k=key: self._on_reformat(p, k, ref),
            on_errored=lambda err, p=plane: self._on_error(p, err),
            on_finished=lambda p=plane: self._update_corners(p),
        )
        self._update_corners(plane)

    def _on_reformat(self, plane: str, key: tuple, ref: mpr.Reformat) -> None:
        self._shown_key[plane] = key
        self.panes[plane].show_reformat(ref)
        self._update_lines()

    def _on_error(self, plane: str, err: Any) -> None:
        self.status.say(f"The {plane} reformat failed: {err.message}", 2)

    # -- reference lines and linked cursors ------------------------------------------------

    def _indices(self) -> dict[str, int]:
        return {"axial": self.state.index, **self.index}

    def _update_lines(self) -> None:
        g = self.geometry
        targets = {"axial": self.axial_lines, **{p: self.panes[p].lines for p in REFORMATS}}
        if g is None or self.layout != "1x3":
            for t in targets.values():
                t.clear()
            return
        idx = self._indices()
        for view, target in targets.items():
            target.set_lines(
                {
                    p: mpr.cross_reference(g, p, idx[p], view, idx[view], self.frame)  # type: ignore[arg-type]
                    for p in PLANES
                    if p != view
                }
            )

    def _on_clicked(self, view: str, x: float, y: float) -> None:
        """A plain click in 1x3: the other two views go through that point."""
        g = self.geometry
        if g is None or self.layout != "1x3":
            return
        point = mpr.view_plane(g, view, self._indices()[view], self.frame).to_patient(x, y)  # type: ignore[arg-type]
        where = mpr.locate(g, point, self.frame)  # type: ignore[arg-type]
        for p in REFORMATS:
            if p != view:
                self.set_index(p, where[p])
        if view != "axial":
            self.state.set_index(where["axial"])

    # -- corner text -----------------------------------------------------------------------

    def _update_corners(self, plane: str) -> None:
        pane, g, grid = self.panes[plane], self.geometry, self._grid
        if g is None or grid is None:
            pane.view.corners.set_lines({})
            return
        slab = f"Slab {self.slab_mm:g} mm {SLAB_MODES[self.slab_mode]}" if self.slab_mm else ""
        i = self.index[plane]
        lines = reformat_corner_lines(
            plane,
            i,
            self.counts[plane],
            grid.coord(_INDEX_AXIS[plane], i),
            geometry=g,
            slab=slab + (" (computing…)" if self.runner.busy(f"mpr_{plane}") else ""),
            frame=FRAMES[self.frame] if self.frame != "acquisition" else "",
            series=self.state.reader.series if self.state.reader is not None else None,
            demo=self.state.demo,
            display=self.state.display.describe(),
            pixel_mm=grid.spacing,
            shape=pane.shown.image.shape if pane.shown is not None else None,
            zoom=pane.view.zoom(),
        )
        pane.view.corners.set_lines(lines)

    # -- window / level drag on a reformat -------------------------------------------------

    def _on_wl_drag_started(self) -> None:
        d = self.state.display
        self._wl_start = None if d.is_rgb else d.window

    def _on_wl_dragged(self, dx: float, dy: float) -> None:
        if self._wl_start is not None:
            level, width = drag_window(self._wl_start, dx, dy)
            self.state.set_display(self.state.display.with_window(level, width))

    def _on_wl_drag_finished(self) -> None:
        if self._wl_start is not None:
            self.status.say(f"Window {self.state.display.describe()}")
        self._wl_start = None
