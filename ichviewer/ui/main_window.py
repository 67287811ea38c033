"""The viewer window: assembles the parts (:mod:`ichviewer.ui.parts`) around one
:class:`ichviewer.ui.state.ViewerState` and one :class:`ichviewer.ui.ai_controller.
AIController`, places their docks, builds the menus on their methods, and keeps the user's
settings. The parts follow the state; the few methods here are the window's public face
(tests, ``ichviewer.app``, benchmarks) and hand over to the part that does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.core.triage import FlaggedSlice
from ichviewer.io import SeriesReader
from ichviewer.site_config import effective_patient_context
from ichviewer.ui import dialogs
from ichviewer.ui.actions import build_actions
from ichviewer.ui.ai_actions import build_ai_actions
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.display import DisplayState
from ichviewer.ui.mouse import MouseBindings, build_mouse_menu
from ichviewer.ui.parts.ai_panels import AIPanelsPart, content_height, scrolling_column
from ichviewer.ui.parts.common import BOTTOM, RIGHT, StatusBar, make_dock
from ichviewer.ui.parts.exports import ExportPart
from ichviewer.ui.parts.heatmap import HeatmapPart
from ichviewer.ui.parts.image import ImagePart
from ichviewer.ui.parts.loading import LoadingPart, local_paths
from ichviewer.ui.parts.measure import MeasurePart
from ichviewer.ui.parts.model import ModelPart
from ichviewer.ui.parts.mpr import MprPart
from ichviewer.ui.parts.pacs import PacsPart
from ichviewer.ui.parts.review import ReviewPart
from ichviewer.ui.parts.windows import WindowToolsPart, initial_display
from ichviewer.ui.parts.worklist import WorklistPart
from ichviewer.ui.settings import ViewerSettings, load_settings, save_settings, settings_path
from ichviewer.ui.state import ViewerState
from ichviewer.ui.theme import STYLESHEET, dark_palette
from ichviewer.ui.tool_actions import build_tool_actions

logger = logging.getLogger("ichviewer.ui")

DEFAULT_SIZE = (1400, 900)
Qt = QtCore.Qt


class MainWindow(QtWidgets.QMainWindow):
    """ICH Viewer's main window. ``persist=False`` neither reads nor writes settings.

    ``model_path``: the AI checkpoint (None: the site's, else the one chosen last time,
    else the bundled one); ``False`` runs without AI.
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
        s = self.settings
        self.state = ViewerState(initial_display(s))  # presets: built-in, site, user
        self._build_parts(model_path)
        self._place_docks()
        self.actions_ = build_actions(self)
        self.ai_actions = build_ai_actions(self)
        self.tool_actions = build_tool_actions(self)  # window tools, measuring tools
        view_menu = self.actions_.view_menu
        self.mouse = MouseBindings(self.image.view, s)
        self.mouse_actions = build_mouse_menu(
            view_menu.addMenu("&Mouse"), s.mouse, self.mouse.set_bindings
        )
        view_menu.addSeparator()
        view_menu.addAction(self.series_dock.toggleViewAction())
        problems_toggle = self.problems_dock.toggleViewAction()
        problems_toggle.setShortcut(QtGui.QKeySequence("Ctrl+L"))
        view_menu.addAction(problems_toggle)
        self._restore(warnings)
        self.ai.model_changed.emit()  # every part shows the model's state once

    def _build_parts(self, model_path: Path | str | bool | None) -> None:
        """The parts, in the order they hear the state's events, and their widgets."""
        st, s = self.state, self.settings
        self.image = ImagePart(self, st, s)
        self.setCentralWidget(self.image.widget)
        self.loading = LoadingPart(self, st, s)
        self.ai = AIController(self, model_path, user_model=s.model_path or None)
        self.image.site_patient_context = self.ai.site.patient_context
        remembered = model_path is None and bool(s.model_path) and self.ai.site.model_path is None
        self.ai_panels = AIPanelsPart(self, st, s, self.ai)
        self.model = ModelPart(self, s, self.ai, from_settings=remembered)
        self.heatmap = HeatmapPart(st, s, self.ai, self.image.view)
        self.review = ReviewPart(self, st, self.ai, focus_image=self.image.view.setFocus)
        self.windows = WindowToolsPart(self, st, s)  # presets, typed W/L, invert, flip
        self.measure = MeasurePart(self, st, s, self.image.view)  # rulers, ROIs, ABC/2
        self.exports = ExportPart(
            self,
            st,
            self.ai,
            self.heatmap,
            self.ai_panels.probability_line,
            self.review.commit_note,
            measurements=self.measure.export_items,
        )
        self.worklist = WorklistPart(self, self.ai, self.open_paths)
        self.mpr = MprPart(self, st, s, self.image.widget, self.image.view)  # reformats
        self.pacs = PacsPart(self, st, s, self.ai, self.open_paths)  # listen, query, DICOM out
        self.pacs.study_received.connect(
            lambda path, report: self.worklist.add_received(
                path, report, hide=[] if self.loading.series_list else [self.series_dock]
            )
        )
        self.loading.loader.cancelled.connect(self.ai.only_loaded_slices)
        # Widgets by the names tests, the app and the benchmarks use.
        self.image_view, self.slider = self.image.view, self.image.slider
        self.hover_label, self.cine_timer = self.image.hover_label, self.image.cine_timer
        ld = self.loading
        self.loader, self.progress, self.cancel_button = ld.loader, ld.progress, ld.cancel_button
        self.problems, self.problems_dock = ld.problems, ld.problems_dock
        self.series_panel, self.series_dock = ld.series_panel, ld.series_dock
        self.probability_panel, self.profile = (
            self.ai_panels.probability_panel,
            self.ai_panels.profile,
        )
        self.heatmap_controls = self.heatmap.controls
        self.triage_panel, self.marks_panel = self.review.triage_panel, self.review.marks_panel
        self.worklist_panel, self.worklist_dock = self.worklist.panel, self.worklist.dock

    def _place_docks(self) -> None:
        ai_box = scrolling_column(self.probability_panel, self.heatmap_controls)
        self.ai_dock = make_dock(self, "AI probabilities (this slice)", "ai_dock", ai_box, RIGHT)
        self.triage_dock = make_dock(self, "Second read", "triage_dock", self.review.widget, RIGHT)
        self.profile_dock = make_dock(self, "Study profile", "profile_dock", self.profile, BOTTOM)
        # The side columns run the full height; the profile sits under the image.
        self.setCorner(Qt.Corner.BottomRightCorner, RIGHT)
        self.setCorner(Qt.Corner.BottomLeftCorner, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        # Problems share the bottom with the profile as a tab (shown when a study has some).
        self.tabifyDockWidget(self.profile_dock, self.problems_dock)
        # Measurements share the second read's place as a tab (raised when one is made).
        self.tabifyDockWidget(self.triage_dock, self.measure.dock)
        self.triage_dock.raise_()
        self._ai_box = ai_box

    def _default_dock_sizes(self) -> None:
        """At the window's size: narrow side columns, a low profile, the image the rest; the
        AI box as tall as its wrapped captions need, the second read below it."""
        self.resizeDocks([self.ai_dock, self.series_dock], [330, 190], Qt.Orientation.Horizontal)
        # Room for a heading and a two-line caption, which come with a study.
        ai_h = max(content_height(self._ai_box, 320), 250) + 90
        self.resizeDocks([self.ai_dock, self.triage_dock], [ai_h, 500], Qt.Orientation.Vertical)
        self.resizeDocks([self.profile_dock], [160], Qt.Orientation.Vertical)

    def _restore(self, warnings: list[str]) -> None:
        s = self.settings
        if not (s.geometry and self.restoreGeometry(QtCore.QByteArray(s.geometry))):
            self.resize(*DEFAULT_SIZE)
        if not (s.window_state and self.restoreState(QtCore.QByteArray(s.window_state))):
            self._default_dock_sizes()
        self.problems_dock.hide()  # shown again when a study has unreadable files
        self.worklist_dock.hide()  # shown by File > Open worklist
        a = self.actions_
        with QtCore.QSignalBlocker(a.fps), QtCore.QSignalBlocker(a.show_name):
            a.fps.setValue(s.cine_fps)
            a.show_name.setChecked(effective_patient_context(s.show_patient_name, self.ai.site))
        if self.ai.site.patient_context is not None:  # the reading room decides
            a.show_name.setEnabled(False)
            a.show_name.setToolTip(f"Set for this workstation by {self.ai.site.source}")
        if warnings:
            StatusBar(self).say("; ".join(warnings), 2)

    # -- opening ---------------------------------------------------------------------------

    def open_paths(
        self, paths_: Sequence[str], *, demo: bool = False, start_slice: int | None = None
    ) -> None:
        """Open a folder, files or zip archives; replaces (and cancels) the current study."""
        self.loading.open_paths(paths_, demo=demo, start_slice=start_slice)

    def open_demo(self) -> bool:
        """Open the bundled demo study; False (and a message) when it is not installed."""
        return self.loading.open_demo()

    def show_reader(self, reader: SeriesReader, index: int | None = None) -> None:
        """Show a series whose slices are (being) decoded into ``reader``."""
        self.loading.show_reader(reader, index)

    def open_worklist(self, folder: str | Path) -> int:
        """List the studies of ``folder`` and score them one by one in the background."""
        return self.worklist.open(
            folder, hide=[] if self.loading.series_list else [self.series_dock]
        )

    # -- what is on screen -----------------------------------------------------------------

    @property
    def reader(self) -> SeriesReader | None:
        return self.state.reader

    @property
    def current_index(self) -> int:
        return self.state.index

    @property
    def n_slices(self) -> int:
        return self.state.n_slices

    @property
    def display(self) -> DisplayState:
        return self.state.display

    @property
    def flagged(self) -> list[FlaggedSlice]:
        """The AI's flagged slices in the second-read list's order."""
        return list(self.state.flags)

    def set_slice(self, index: int) -> None:
        """Show slice ``index`` (clamped)."""
        self.state.set_index(index)

    def step(self, delta: int) -> None:
        self.state.set_index(self.state.index + delta)

    def apply_preset(self, name: str) -> None:
        """brain | subdural | bone | rgb (keys 1-4)."""
        self.image.apply_preset(name)

    def set_mode(self, mode: str) -> None:
        """linear | sigmoid (S)."""
        self.image.set_mode(mode)

    def fit_view(self) -> None:
        self.image.fit()

    # -- AI --------------------------------------------------------------------------------

    @property
    def heatmap_on(self) -> bool:
        return self.state.heatmap_on

    def set_heatmap(self, on: bool) -> None:
        """Show the CAM of the chosen label over the image (H)."""
        self.heatmap.set_on(on)

    def set_heatmap_label(self, label: str | None) -> None:
        """A label of LABELS, or None for the highest-probability label of each slice."""
        self.heatmap.set_label(label)

    def load_model(self, path: str | Path) -> None:
        """Validate another checkpoint in the background; the study is rescored with it."""
        self.model.load_model(path)

    def ai_ready_for_screenshot(self, want_cam: bool) -> bool:
        """True when a screenshot would show what it should (see AIController)."""
        return self.ai.ready_for_screenshot(self.state.index, want_cam)

    def export_results(self, path: str | Path) -> Path:
        """The AI results and the reader's marks as JSON, or CSV for a .csv ``path``."""
        return self.exports.export_results(path)

    # -- help ------------------------------------------------------------------------------

    def show_shortcuts(self) -> QtWidgets.QDialog:
        dlg = dialogs.shortcuts_dialog(self)
        dlg.show()
        return dlg

    def show_about(self) -> QtWidgets.QDialog:
        dlg = dialogs.about_dialog(self, self.model.summary_html())
        dlg.show()
        return dlg

    # -- Qt events -------------------------------------------------------------------------

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        dropped = local_paths(event.mimeData())
        if dropped:
            event.acceptProposedAction()
            self.open_paths(dropped)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.cine_timer.stop()
        self.loader.shutdown()
        self.review.commit_note()
        self.worklist_panel.shutdown()
        self.pacs.shutdown()
        self.ai.shutdown()
        if self._persist:
            self.settings.geometry = bytes(self.saveGeometry().data())
            self.settings.window_state = bytes(self.saveState().data())
            save_settings(self.settings, self._settings_file)
        super().closeEvent(event)
