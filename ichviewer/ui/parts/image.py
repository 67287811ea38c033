"""The slice on screen: the image view and its corner text, the slice slider, the HU under
the cursor, the display (window presets, free W/L by dragging, linear or sigmoid), fit and
reset, and cine playback. Follows the state's series, slice, display and message."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ichviewer.core.presets import transform_labels
from ichviewer.core.windowing import Window
from ichviewer.ui.corner_text import CornerContext, corner_lines, orientation_labels
from ichviewer.ui.display import display_lut, drag_window
from ichviewer.ui.image_view import ImageView
from ichviewer.ui.parts.common import StatusBar
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import ViewerState

NO_STUDY = "No study open.\nFile > Open folder (Ctrl+O), or drop a folder or files on this window."


class ImagePart:
    """Owns the image view, the slider, the hover label and the cine timer."""

    def __init__(
        self, win: QtWidgets.QMainWindow, state: ViewerState, settings: ViewerSettings
    ) -> None:
        self.state, self.settings = state, settings
        self.status = StatusBar(win)
        self.view = ImageView(win)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setObjectName("slice_slider")
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.slider.setEnabled(False)
        self.widget = QtWidgets.QWidget(win)
        lay = QtWidgets.QVBoxLayout(self.widget)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(4)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.slider)
        self.hover_label = QtWidgets.QLabel("")
        self.hover_label.setObjectName("hover_label")
        self.status.add(self.hover_label)
        self.cine_timer = QtCore.QTimer(win)
        self.cine_timer.timeout.connect(self._on_cine_tick)
        self.play_action = None  # the window's Play action, checked while playing
        #: the site file's patient_context (None: the user's setting decides)
        self.site_patient_context: bool | None = None
        self._wl_start: Window | None = None
        v = self.view
        v.view_box.slice_step.connect(self.step)
        v.graphics.wl_drag_started.connect(self._on_wl_drag_started)
        v.graphics.wl_dragged.connect(self._on_wl_dragged)
        v.graphics.wl_drag_finished.connect(self._on_wl_drag_finished)
        v.hovered.connect(self._on_hovered)
        v.zoom_changed.connect(lambda _z: self.update_corners())
        self.slider.valueChanged.connect(state.set_index)
        state.series.connect(self._on_series)
        state.index_changed.connect(self._on_index)
        state.display_changed.connect(self._on_display)
        state.message_changed.connect(lambda: self.view.set_message(state.message))
        self.view.set_message(NO_STUDY)
        self._on_display()

    # -- following the state ---------------------------------------------------------------

    def _on_series(self) -> None:
        r = self.state.reader
        if r is None:
            self.set_cine(False)
            self.view.clear()
            self.slider.setEnabled(False)
            self.update_corners()
            return
        s = r.series
        self.view.set_geometry(s.rows, s.columns, s.pixel_spacing or s.slices[0].pixel_spacing)
        self._show_orientation()
        self.view.set_message("")
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setRange(0, s.n_slices - 1)
        self.slider.setEnabled(True)
        self.view.fit()

    def _on_index(self) -> None:
        """Show the slice; the image repaints on the next paint, so a burst of wheel events
        costs one render."""
        r, i = self.state.reader, self.state.index
        if r is not None:
            with QtCore.QSignalBlocker(self.slider):
                self.slider.setValue(i)
            self.view.show_slice(r.volume[i])
        self.update_corners()

    def _on_display(self) -> None:
        d = self.state.display
        self.view.set_lut(display_lut(d))
        self.view.set_view_matrix(d.view_matrix)  # flips / turns (window tools)
        self._show_orientation()
        if d.preset != "custom":
            self.settings.preset = d.preset
        self.settings.mode = d.mode
        self.update_corners()

    def _show_orientation(self) -> None:
        """Edge letters of the series, moved with the view's flips and turns."""
        r = self.state.reader
        labels = orientation_labels(r.series.orientation if r is not None else None)
        self.view.corners.set_orientation(transform_labels(labels, self.state.display.view_matrix))

    def update_corners(self) -> None:
        r, i = self.state.reader, self.state.index
        ctx = CornerContext(
            series=r.series if r is not None else None,
            index=i,
            zoom=self.view.zoom(),
            demo=self.state.demo,
            show_patient_name=(
                self.settings.show_patient_name
                if self.site_patient_context is None
                else self.site_patient_context
            ),
            loaded=bool(r.loaded[i]) if r is not None else True,
            failed=bool(r.failed[i]) if r is not None else False,
        )
        self.view.corners.set_lines(corner_lines(ctx, self.state.display))

    def _on_hovered(self, col: int, row: int) -> None:
        r, i = self.state.reader, self.state.index
        if r is None or col < 0 or not r.loaded[i] or r.failed[i]:
            self.hover_label.setText("")
            return
        self.hover_label.setText(f"x {col}  y {row}   {float(r.volume[i, row, col]):.0f} HU")

    # -- slices and display ----------------------------------------------------------------

    def step(self, delta: int) -> None:
        self.state.set_index(self.state.index + delta)

    def apply_preset(self, name: str) -> None:
        """brain | subdural | bone | rgb (keys 1-4)."""
        self.state.set_display(self.state.display.with_preset(name))

    def set_window(self, level: float, width: float) -> None:
        self.state.set_display(self.state.display.with_window(level, width))

    def set_mode(self, mode: str) -> None:
        self.state.set_display(self.state.display.with_mode(mode))

    def set_sigmoid(self, on: bool) -> None:
        self.set_mode("sigmoid" if on else "linear")

    def fit(self) -> None:
        self.view.fit()

    def reset(self) -> None:
        """Fit, drop a dragged window for the last preset's, and undo flips and turns."""
        self.view.fit()
        if self.state.display.is_reoriented:
            self.state.set_display(self.state.display.with_orientation_reset())
        if self.state.display.preset == "custom":
            self.apply_preset(self.settings.preset)

    def set_show_patient_name(self, on: bool) -> None:
        self.settings.show_patient_name = bool(on)
        self.update_corners()

    # -- window / level drag ---------------------------------------------------------------

    def _on_wl_drag_started(self) -> None:
        if self.state.display.is_rgb:
            self._wl_start = None
            self.status.say(
                "The RGB composite has fixed windows; press 1, 2 or 3 "
                "for a grey window you can drag"
            )
            return
        self._wl_start = self.state.display.window

    def _on_wl_dragged(self, dx: float, dy: float) -> None:
        if self._wl_start is not None:
            self.set_window(*drag_window(self._wl_start, dx, dy))

    def _on_wl_drag_finished(self) -> None:
        if self._wl_start is not None:
            self.status.say(f"Window {self.state.display.describe()}")
        self._wl_start = None

    # -- cine ------------------------------------------------------------------------------

    def set_cine(self, on: bool) -> None:
        on = bool(on) and self.state.reader is not None
        if on:
            self.cine_timer.start(max(1, round(1000 / self.settings.cine_fps)))
        else:
            self.cine_timer.stop()
        if self.play_action is not None:
            with QtCore.QSignalBlocker(self.play_action):
                self.play_action.setChecked(on)
                self.play_action.setText("Pause (Space)" if on else "Play (Space)")

    def toggle_cine(self) -> None:
        self.set_cine(not self.cine_timer.isActive())

    def set_cine_fps(self, fps: int) -> None:
        self.settings.cine_fps = int(fps)
        if self.cine_timer.isActive():
            self.cine_timer.setInterval(max(1, round(1000 / fps)))

    def _on_cine_tick(self) -> None:
        if self.state.reader is None:
            self.set_cine(False)
            return
        self.state.set_index((self.state.index + 1) % self.state.n_slices)
