"""The main window's side of loading: progress, series choice, slices landing, errors,
and drag-and-drop. A mixin so main_window.py stays about the view; it uses MainWindow's
attributes (loader, reader, image_view, problems, settings, ...)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui

from ichviewer.ui.actions import fill_recent_menu
from ichviewer.ui.workers import ScanDone, SeriesDone, SeriesOpened, SliceLoaded

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow

logger = logging.getLogger("ichviewer.ui")
STATUS_MS = 8000


class LoadingMixin:
    """Slots for :class:`ichviewer.ui.loader.StudyLoader` signals and file drops."""

    def _show_problems(self: MainWindow) -> None:
        """Show the unreadable-files list, a few lines high, under the image."""
        if not self.problems_dock.isVisible():
            self.problems_dock.show()
            self.resizeDocks([self.problems_dock], [110], QtCore.Qt.Orientation.Vertical)

    def _set_busy(self: MainWindow, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.reset()

    def _on_progress(self: MainWindow, text: str, value: int, maximum: int) -> None:
        self._set_busy(True)
        self.progress.setMaximum(maximum)
        self.progress.setValue(value)
        self.progress.setFormat(text)

    def _on_scanned(self: MainWindow, done: ScanDone) -> None:
        res = done.result
        self.problems.set_errors(res.errors)
        if res.errors:
            self._show_problems()
        if not res.series:
            where = ", ".join(done.paths[:3]) + (" …" if len(done.paths) > 3 else "")
            self.image_view.set_message(
                f"No CT image series found in {where}.\n"
                + (
                    f"{len(res.errors)} files could not be read (listed below)."
                    if res.errors
                    else ""
                )
            )
            self.statusBar().showMessage("No CT images found", STATUS_MS)
            return
        if not self._demo:
            self.settings.add_recent(done.paths)
            fill_recent_menu(self.actions_.recent_menu, self.settings.recent, self.open_paths)
        self.series_list = list(res.series)
        best = res.best_series()
        index = self.series_list.index(best) if best is not None else 0
        remembered = {
            s.study_instance_uid: self.settings.series_choice.get(s.study_instance_uid)
            for s in self.series_list
        }
        for i, s in enumerate(self.series_list):
            if remembered.get(s.study_instance_uid) == s.series_instance_uid:
                index = i
                break
        self.series_panel.set_series(self.series_list, index)
        self.series_dock.setVisible(len(self.series_list) > 1)  # View menu shows it anyway
        self.show_series(index)

    def _on_series_chosen(self: MainWindow, index: int) -> None:
        if index != self.series_index:
            self.show_series(index)

    def _on_series_opened(self: MainWindow, opened: SeriesOpened) -> None:
        self.show_reader(opened.reader, opened.order[0])

    def _on_slice_loaded(self: MainWindow, p: SliceLoaded) -> None:
        if self.reader is not None and p.index == self._index:
            self._show_current()

    def _on_series_done(self: MainWindow, done: SeriesDone) -> None:
        r = done.reader
        if r is not self.reader:
            return
        self.problems.add_errors(r.errors)
        if r.errors:
            self._show_problems()
        bad = f", {len(r.errors)} unreadable" if r.errors else ""
        files = self.problems.count()
        listed = f"; {files} files could not be read (Ctrl+L)" if files else ""
        self.statusBar().showMessage(f"Loaded {r.series.n_slices} slices{bad}{listed}", STATUS_MS)
        self._show_current()

    def _on_load_failed(self: MainWindow, message: str) -> None:
        logger.error("loading failed: %s", message)
        if self.reader is None:
            self.image_view.set_message(f"Could not open the study:\n{message}")
        self.statusBar().showMessage(f"Loading failed: {message}", STATUS_MS * 2)

    def _on_load_cancelled(self: MainWindow) -> None:
        r = self.reader
        if r is not None:
            done = int(r.loaded.sum())
            self.statusBar().showMessage(
                f"Loading cancelled: {done} of {r.series.n_slices} slices loaded", STATUS_MS
            )
            self.problems.add_errors(r.errors)
        else:
            self.image_view.set_message("Loading cancelled.")
            self.statusBar().showMessage("Loading cancelled", STATUS_MS)
        self._show_current()

    # -- drag and drop -------------------------------------------------------------------

    def dragEnterEvent(self: MainWindow, event: QtGui.QDragEnterEvent) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self: MainWindow, event: QtGui.QDropEvent) -> None:
        dropped = _local_paths(event.mimeData())
        if dropped:
            event.acceptProposedAction()
            self.open_paths(dropped)


def _local_paths(mime: QtCore.QMimeData) -> list[str]:
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
