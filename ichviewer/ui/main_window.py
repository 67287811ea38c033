"""The viewer window: opens studies, shows one slice at a time, keeps the user's settings.

State lives here (the series, the slice index, the display state); widgets follow it and
are updated with their signals blocked. Loading runs in :class:`StudyLoader`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer import paths
from ichviewer.core.windowing import Window
from ichviewer.io import SeriesInfo, SeriesReader
from ichviewer.ui import dialogs
from ichviewer.ui.actions import build_actions, fill_recent_menu
from ichviewer.ui.corner_text import CornerContext, corner_lines, orientation_labels
from ichviewer.ui.display import DisplayState, display_lut
from ichviewer.ui.image_view import ImageView
from ichviewer.ui.loader import StudyLoader
from ichviewer.ui.model_panel import model_summary_html
from ichviewer.ui.series_picker import SeriesPanel
from ichviewer.ui.settings import ViewerSettings, load_settings, save_settings, settings_path
from ichviewer.ui.theme import STYLESHEET, dark_palette
from ichviewer.ui.window_ai import AIMixin
from ichviewer.ui.window_heatmap import HeatmapMixin
from ichviewer.ui.window_interaction import InteractionMixin
from ichviewer.ui.window_loading import STATUS_MS, LoadingMixin
from ichviewer.ui.window_review import ReviewMixin

logger = logging.getLogger("ichviewer.ui")

DEFAULT_SIZE = (1400, 900)


class MainWindow(
    LoadingMixin, InteractionMixin, AIMixin, HeatmapMixin, ReviewMixin, QtWidgets.QMainWindow
):
    """ICH Viewer's main window. ``persist=False`` neither reads nor writes settings.

    ``model_path``: the AI checkpoint (None: the one chosen last time, else the bundled
    one); ``False`` runs without AI.
    """

    def __init__(
        self,
        *,
        persist: bool = True,
        settings_file: Path | None = None,
        model_path: Path | str | bool | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("ICH Viewer")
        self.setObjectName("ichviewer_main")
        self.setPalette(dark_palette())
        self.setStyleSheet(STYLESHEET)
        self.setAcceptDrops(True)
        self._persist = persist
        self._settings_file = settings_file or settings_path()
        warnings: list[str] = []
        self.settings = ViewerSettings()
        if persist:
            self.settings, warnings = load_settings(self._settings_file)

        self.reader: SeriesReader | None = None
        self.series_list: list[SeriesInfo] = []
        self.series_index: int | None = None
        self._index = 0
        self._demo = False
        self._paths: list[str] = []
        self._start_slice: int | None = None
        self._wl_start: Window | None = None
        self.display = (
            DisplayState().with_preset(self.settings.preset).with_mode(self.settings.mode)
        )

        self.image_view = ImageView(self)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setObjectName("slice_slider")
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.slider.setEnabled(False)
        central = QtWidgets.QWidget(self)
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(4)
        lay.addWidget(self.image_view, 1)
        lay.addWidget(self.slider)
        self.setCentralWidget(central)

        self.series_panel = SeriesPanel(self)
        self.series_dock = self._dock(
            "Series", "series_dock", self.series_panel, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.problems = dialogs.ProblemsPanel(self)
        self.problems_dock = self._dock(
            "Files that could not be read",
            "problems_dock",
            self.problems,
            QtCore.Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        self.problems_dock.hide()

        self.hover_label = QtWidgets.QLabel("")
        self.hover_label.setObjectName("hover_label")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFixedWidth(220)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_button")
        self.cancel_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        sb = self.statusBar()
        sb.addPermanentWidget(self.hover_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self._set_busy(False)

        self.view_menu: QtWidgets.QMenu | None = None
        self.actions_ = build_actions(self)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.series_dock.toggleViewAction())
        problems_toggle = self.problems_dock.toggleViewAction()
        problems_toggle.setShortcut(QtGui.QKeySequence("Ctrl+L"))
        self.view_menu.addAction(problems_toggle)
        self._init_ai(model_path)
        self.cine_timer = QtCore.QTimer(self)
        self.cine_timer.timeout.connect(self._on_cine_tick)

        self.loader = StudyLoader(self)
        self._connect()
        self._restore(warnings)
        self.image_view.set_message(
            "No study open.\nFile > Open folder (Ctrl+O), or drop a folder or files on this window."
        )
        self._apply_display()

    def _dock(
        self, title: str, name: str, widget: QtWidgets.QWidget, area: QtCore.Qt.DockWidgetArea
    ) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        v = self.image_view
        v.view_box.slice_step.connect(self.step)
        v.graphics.wl_drag_started.connect(self._on_wl_drag_started)
        v.graphics.wl_dragged.connect(self._on_wl_dragged)
        v.graphics.wl_drag_finished.connect(self._on_wl_drag_finished)
        v.hovered.connect(self._on_hovered)
        v.zoom_changed.connect(lambda _z: self._update_corners())
        self.slider.valueChanged.connect(self.set_slice)
        self.series_panel.series_chosen.connect(self._on_series_chosen)
        self.cancel_button.clicked.connect(self.loader.cancel)
        ld = self.loader
        ld.progress.connect(self._on_progress)
        ld.scanned.connect(self._on_scanned)
        ld.series_opened.connect(self._on_series_opened)
        ld.slice_loaded.connect(self._on_slice_loaded)
        ld.series_done.connect(self._on_series_done)
        ld.failed.connect(self._on_load_failed)
        ld.cancelled.connect(self._on_load_cancelled)
        ld.cancelled.connect(self._ai_load_cancelled)
        ld.idle.connect(lambda: self._set_busy(False))

    def _restore(self, warnings: list[str]) -> None:
        s = self.settings
        if not (s.geometry and self.restoreGeometry(QtCore.QByteArray(s.geometry))):
            self.resize(*DEFAULT_SIZE)
        if s.window_state:
            self.restoreState(QtCore.QByteArray(s.window_state))
        self.problems_dock.hide()  # shown again when a study has unreadable files
        self.worklist_dock.hide()  # shown by File > Open worklist
        a = self.actions_
        with QtCore.QSignalBlocker(a.fps), QtCore.QSignalBlocker(a.show_name):
            a.fps.setValue(s.cine_fps)
            a.show_name.setChecked(s.show_patient_name)
        fill_recent_menu(a.recent_menu, s.recent, self.open_paths)
        if warnings:
            self.statusBar().showMessage("; ".join(warnings), STATUS_MS * 2)

    # -- opening -------------------------------------------------------------------------

    def open_paths(
        self, paths_: Sequence[str], *, demo: bool = False, start_slice: int | None = None
    ) -> None:
        """Open a folder, files or zip archives; replaces (and cancels) the current study."""
        self.set_cine(False)
        self._paths = [str(p) for p in paths_]
        self._demo = demo
        self._start_slice = start_slice
        if self.reader is not None:
            self._ai_series_closed()
        self.reader, self.series_list, self.series_index = None, [], None
        self.image_view.clear()
        self.series_panel.set_series([], None)
        self.problems.set_errors([])
        self.problems_dock.hide()
        self.slider.setEnabled(False)
        self.image_view.set_message("Reading…")
        self._update_corners()
        self.loader.open_paths(self._paths)
        self._set_busy(True)

    def open_demo(self) -> bool:
        """Open the bundled demo study; says so plainly when it is not installed."""
        demo = paths.demo_study_path()
        if not demo.is_dir():
            msg = (
                f"The demo study is not installed (expected in {demo}).\n"
                "Open a study with File > Open folder (Ctrl+O), or drop a folder here."
            )
            logger.warning("demo study missing: %s", demo)
            self.image_view.set_message(msg)
            self.statusBar().showMessage("Demo study not found", STATUS_MS)
            return False
        self.open_paths([str(demo)], demo=True)
        return True

    def choose_folder(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a study folder")
        if d:
            self.open_paths([d])

    def choose_files(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open DICOM files or a zip", "", "DICOM or zip (*.dcm *.DCM *.zip *);;All (*)"
        )
        if files:
            self.open_paths(files)

    def show_series(self, index: int) -> None:
        """Load another series of the open study (and remember the choice)."""
        if not 0 <= index < len(self.series_list):
            return
        s = self.series_list[index]
        self.series_index = index
        self.settings.remember_series(s.study_instance_uid, s.series_instance_uid)
        self.series_panel.set_current(index)
        start = self._start_slice if self._start_slice is not None else s.n_slices // 2
        self._start_slice = None
        if self.reader is not None:
            self._ai_series_closed()
        self.reader = None
        self.loader.load_series(s, min(max(start, 0), s.n_slices - 1))
        self._set_busy(True)

    def show_reader(self, reader: SeriesReader, index: int | None = None) -> None:
        """Show a series whose slices are (being) decoded into ``reader``; slices still
        missing read as air and are marked "loading" in the corner."""
        s = reader.series
        self.reader = reader
        self._index = min(max(s.n_slices // 2 if index is None else index, 0), s.n_slices - 1)
        self.image_view.set_geometry(
            s.rows, s.columns, s.pixel_spacing or s.slices[0].pixel_spacing
        )
        self.image_view.corners.set_orientation(orientation_labels(s.orientation))
        self.image_view.set_message("")
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setRange(0, s.n_slices - 1)
            self.slider.setValue(self._index)
        self.slider.setEnabled(True)
        self._ai_series_opened()
        self._show_current()
        self.image_view.fit()

    # -- slices --------------------------------------------------------------------------

    @property
    def current_index(self) -> int:
        return self._index

    @property
    def n_slices(self) -> int:
        return self.reader.series.n_slices if self.reader is not None else 0

    def set_slice(self, index: int) -> None:
        """Show slice ``index`` (clamped); the image repaints on the next paint, so a burst
        of wheel events costs one render."""
        if self.reader is None:
            return
        self._index = min(max(int(index), 0), self.n_slices - 1)
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setValue(self._index)
        self._show_current()

    def step(self, delta: int) -> None:
        self.set_slice(self._index + delta)

    def _show_current(self) -> None:
        if self.reader is not None:
            self.image_view.show_slice(self.reader.volume[self._index])
            self._ai_slice_shown()
        self._update_corners()

    # -- display -------------------------------------------------------------------------

    def apply_preset(self, name: str) -> None:
        """brain | subdural | bone | rgb (keys 1-4)."""
        self.display = self.display.with_preset(name)
        self._apply_display()

    def set_window(self, level: float, width: float) -> None:
        self.display = self.display.with_window(level, width)
        self._apply_display()

    def set_mode(self, mode: str) -> None:
        self.display = self.display.with_mode(mode)
        self._apply_display()

    def set_sigmoid(self, on: bool) -> None:
        self.set_mode("sigmoid" if on else "linear")

    def toggle_mode(self) -> None:
        self.set_mode("linear" if self.display.mode == "sigmoid" else "sigmoid")

    def _apply_display(self) -> None:
        d = self.display
        self.image_view.set_lut(display_lut(d))
        a = self.actions_
        for name, act in a.presets.items():
            with QtCore.QSignalBlocker(act):
                act.setChecked(name == d.preset)
        with QtCore.QSignalBlocker(a.sigmoid):
            a.sigmoid.setChecked(d.mode == "sigmoid")
        if d.preset != "custom":
            self.settings.preset = d.preset
        self.settings.mode = d.mode
        self._update_corners()

    def fit_view(self) -> None:
        self.image_view.fit()

    def reset_view(self) -> None:
        """Fit, and drop a dragged window for the last preset's."""
        self.image_view.fit()
        if self.display.preset == "custom":
            self.apply_preset(self.settings.preset)

    def set_show_patient_name(self, on: bool) -> None:
        self.settings.show_patient_name = bool(on)
        self._update_corners()

    # -- text around the image -----------------------------------------------------------

    def _update_corners(self) -> None:
        series = self.reader.series if self.reader is not None else None
        i = self._index
        ctx = CornerContext(
            series=series,
            index=i,
            zoom=self.image_view.zoom(),
            demo=self._demo,
            show_patient_name=self.settings.show_patient_name,
            loaded=bool(self.reader.loaded[i]) if self.reader is not None else True,
            failed=bool(self.reader.failed[i]) if self.reader is not None else False,
        )
        self.image_view.corners.set_lines(corner_lines(ctx, self.display))

    def _on_hovered(self, col: int, row: int) -> None:
        r = self.reader
        if r is None or col < 0 or not r.loaded[self._index] or r.failed[self._index]:
            self.hover_label.setText("")
            return
        hu = float(r.volume[self._index, row, col])
        self.hover_label.setText(f"x {col}  y {row}   {hu:.0f} HU")

    def show_shortcuts(self) -> QtWidgets.QDialog:
        dlg = dialogs.shortcuts_dialog(self)
        dlg.show()
        return dlg

    def show_about(self) -> QtWidgets.QDialog:
        self.ai.ensure_model()
        model = model_summary_html(self.ai.info, self._ai_state_text(), metrics=False)
        dlg = dialogs.about_dialog(self, model)
        dlg.show()
        return dlg

    # -- closing -------------------------------------------------------------------------

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.cine_timer.stop()
        self.loader.shutdown()
        self._ai_shutdown()
        if self._persist:
            self.settings.geometry = bytes(self.saveGeometry().data())
            self.settings.window_state = bytes(self.saveState().data())
            save_settings(self.settings, self._settings_file)
        super().closeEvent(event)
