"""Opening studies: File > Open, drops, recent studies, the demo; progress and Cancel in
the status bar; the series picker; the list of files that could not be read. Loading runs
in :class:`ichviewer.ui.loader.StudyLoader`; a series that opens goes into the state."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6 import QtCore, QtWidgets

from ichviewer import paths
from ichviewer.io import SeriesInfo, SeriesReader
from ichviewer.site_config import effective_patient_context
from ichviewer.ui import dialogs
from ichviewer.ui.actions import fill_recent_menu
from ichviewer.ui.loader import StudyLoader
from ichviewer.ui.parts.common import BOTTOM, LEFT, StatusBar, make_dock
from ichviewer.ui.series_picker import SeriesPanel
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import ViewerState
from ichviewer.ui.workers import ScanDone, SeriesDone, SliceLoaded

logger = logging.getLogger("ichviewer.ui")


class LoadingPart:
    """Owns the loader, the progress bar and Cancel, the series and problems docks and the
    recent-studies menu."""

    def __init__(
        self, win: QtWidgets.QMainWindow, state: ViewerState, settings: ViewerSettings
    ) -> None:
        self.win, self.state, self.settings = win, state, settings
        self.status = StatusBar(win)
        self.loader = StudyLoader(win)
        self.series_list: list[SeriesInfo] = []
        self.series_index: int | None = None
        self._start_slice: int | None = None
        self.series_panel = SeriesPanel(win)
        self.series_dock = make_dock(
            win, "Studies and series", "series_dock", self.series_panel, LEFT
        )
        self.problems = dialogs.ProblemsPanel(win)
        self.problems_dock = make_dock(
            win, "Files that could not be read", "problems_dock", self.problems, BOTTOM
        )
        self.problems_dock.hide()
        self.recent_menu = QtWidgets.QMenu("Open &recent", win)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFixedWidth(220)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_button")
        self.cancel_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.status.add(self.progress)
        self.status.add(self.cancel_button)
        self.set_busy(False)
        self.series_panel.series_chosen.connect(self._on_series_chosen)
        self.cancel_button.clicked.connect(self.loader.cancel)
        ld = self.loader
        ld.progress.connect(self._on_progress)
        ld.scanned.connect(self._on_scanned)
        ld.series_opened.connect(lambda o: self.show_reader(o.reader, o.order[0]))
        ld.slice_loaded.connect(self._on_slice_loaded)
        ld.series_done.connect(self._on_series_done)
        ld.failed.connect(self._on_failed)
        ld.cancelled.connect(self._on_cancelled)
        ld.idle.connect(lambda: self.set_busy(False))
        self.fill_recent()

    # -- opening ---------------------------------------------------------------------------

    def open_paths(
        self, paths_: Sequence[str], *, demo: bool = False, start_slice: int | None = None
    ) -> None:
        """Open a folder, files or zip archives; replaces (and cancels) the current study."""
        self.state.demo = demo
        self._start_slice = start_slice
        self.series_list, self.series_index = [], None
        self.state.set_series(None)
        self.series_panel.set_series([], None)
        self.problems.set_errors([])
        self.problems_dock.hide()
        self.state.set_message("Reading…")
        self.loader.open_paths([str(p) for p in paths_])
        self.set_busy(True)

    def open_demo(self) -> bool:
        """Open the bundled demo study; says so plainly when it is not installed."""
        demo = paths.demo_study_path()
        if not demo.is_dir():
            logger.warning("demo study missing: %s", demo)
            self.state.set_message(
                f"The demo study is not installed (expected in {demo}).\n"
                "Open a study with File > Open folder (Ctrl+O), or drop a folder here."
            )
            self.status.say("Demo study not found")
            return False
        self.open_paths([str(demo)], demo=True)
        return True

    def choose_folder(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self.win, "Open a study folder")
        if d:
            self.open_paths([d])

    def choose_files(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self.win,
            "Open DICOM files or a zip",
            "",
            "DICOM or zip (*.dcm *.DCM *.zip *);;All (*)",
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
        self.state.set_series(None)
        self.loader.load_series(s, min(max(start, 0), s.n_slices - 1))
        self.set_busy(True)

    def show_reader(self, reader: SeriesReader, index: int | None = None) -> None:
        """Show a series whose slices are (being) decoded into ``reader``."""
        self.state.set_series(reader, index)

    def fill_recent(self) -> None:
        fill_recent_menu(self.recent_menu, self.settings.recent, self.open_paths)

    # -- loader reports --------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.reset()

    def _show_problems(self) -> None:
        """Show the unreadable-files list, a few lines high, under the image."""
        if not self.problems_dock.isVisible():
            self.problems_dock.show()
            self.win.resizeDocks([self.problems_dock], [140], QtCore.Qt.Orientation.Vertical)
        self.problems_dock.raise_()  # the tab in front of the study profile

    def _on_progress(self, text: str, value: int, maximum: int) -> None:
        self.set_busy(True)
        self.progress.setMaximum(maximum)
        self.progress.setValue(value)
        self.progress.setFormat(text)

    def _on_scanned(self, done: ScanDone) -> None:
        res = done.result
        self.problems.set_errors(res.errors)
        if res.errors:
            self._show_problems()
        if not res.series:
            where = ", ".join(done.paths[:3]) + (" …" if len(done.paths) > 3 else "")
            bad = f"{len(res.errors)} files could not be read (listed below)." if res.errors else ""
            self.state.set_message(f"No CT image series found in {where}.\n{bad}")
            self.status.say("No CT images found")
            return
        if not self.state.demo:
            self.settings.add_recent(done.paths)
            self.fill_recent()
        self.series_list = list(res.series)
        self.series_panel.show_patient = effective_patient_context(self.settings.show_patient_name)
        self.series_panel.set_series(self.series_list, index := self._initial_series(res))
        self.series_dock.setVisible(len(self.series_list) > 1)  # View menu shows it anyway
        studies = self.series_panel.n_studies
        if studies > 1:
            self.status.say(f"{studies} studies found: choose one in the Series list")
        self.show_series(index)

    def _initial_series(self, res: object) -> int:
        """The series the user chose last time in this study, else the scan's best one."""
        best = res.best_series()  # type: ignore[attr-defined]
        index = self.series_list.index(best) if best is not None else 0
        for i, s in enumerate(self.series_list):
            if self.settings.series_choice.get(s.study_instance_uid) == s.series_instance_uid:
                return i
        return index

    def _on_series_chosen(self, index: int) -> None:
        if index != self.series_index:
            self.show_series(index)

    def _on_slice_loaded(self, p: SliceLoaded) -> None:
        if self.state.reader is not None and p.index == self.state.index:
            self.state.refresh()

    def _on_series_done(self, done: SeriesDone) -> None:
        r = done.reader
        if r is not self.state.reader:
            return
        self.problems.add_errors(r.errors)
        if r.errors:
            self._show_problems()
        bad = f", {len(r.errors)} unreadable" if r.errors else ""
        files = self.problems.count()
        listed = f"; {files} files could not be read (Ctrl+L)" if files else ""
        self.status.say(f"Loaded {r.series.n_slices} slices{bad}{listed}")
        self.state.refresh()

    def _on_failed(self, message: str) -> None:
        logger.error("loading failed: %s", message)
        if self.state.reader is None:
            self.state.set_message(f"Could not open the study:\n{message}")
        self.status.say(f"Loading failed: {message}", 2)

    def _on_cancelled(self) -> None:
        r = self.state.reader
        if r is not None:
            done = int(r.loaded.sum())
            self.status.say(f"Loading cancelled: {done} of {r.series.n_slices} slices loaded")
            self.problems.add_errors(r.errors)
            self.state.refresh()
        else:
            self.state.set_message("Loading cancelled.")
            self.status.say("Loading cancelled")


def local_paths(mime: QtCore.QMimeData) -> list[str]:
    """Local files and folders of a drag's data."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
