"""The main window's AI side: the docks (probabilities + heatmap, second read, profile,
worklist), following the series and the slice on screen, the heatmap overlay, moving
between flagged slices, and choosing the model. A mixin so main_window.py stays about the
view; it uses MainWindow's attributes (reader, image_view, settings, statusBar, ...)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import FlaggedSlice, flagged_slices, step_flagged, study_summary
from ichviewer.site_config import effective_auto_score
from ichviewer.ui import model_panel
from ichviewer.ui.ai_actions import build_ai_actions
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.ai_style import SHORT, fmt_p
from ichviewer.ui.heatmap import HeatmapControls
from ichviewer.ui.marks_panel import MarksPanel
from ichviewer.ui.probability_panel import ProbabilityPanel
from ichviewer.ui.profile_plot import ProfilePlot
from ichviewer.ui.triage_panel import TriagePanel
from ichviewer.ui.worklist import WorklistPanel

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow

logger = logging.getLogger("ichviewer.ui")
STATUS_MS = 8000
Area = QtCore.Qt.DockWidgetArea


class AIMixin:
    """AI docks and their wiring; call :meth:`_init_ai` once the menus exist."""

    def _init_ai(self: MainWindow, model_path: Path | str | bool | None) -> None:
        self._model_from_settings = model_path is None and bool(self.settings.model_path)
        if self._model_from_settings:
            model_path = self.settings.model_path
        self.ai = AIController(self, model_path)
        self.probability_panel = ProbabilityPanel()
        self.heatmap_controls = HeatmapControls()
        self.heatmap_controls.opacity.setValue(self.settings.heatmap_opacity)
        self.heatmap_controls.set_colormap(self.settings.heatmap_colormap)
        box = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.probability_panel)
        lay.addWidget(self.heatmap_controls)
        box.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Maximum
        )
        self.ai_dock = self._dock(
            "AI probabilities (this slice)", "ai_dock", box, Area.RightDockWidgetArea
        )
        self.triage_panel = TriagePanel()
        self.marks_panel = MarksPanel()
        review = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(review)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.triage_panel, 1)
        lay.addWidget(self.marks_panel)
        self.triage_dock = self._dock(
            "Second read", "triage_dock", review, Area.RightDockWidgetArea
        )
        self.profile = ProfilePlot()
        self.profile_dock = self._dock(
            "Study profile", "profile_dock", self.profile, Area.BottomDockWidgetArea
        )
        self.worklist_panel = WorklistPanel(self.ai)
        self.worklist_dock = self._dock(
            "Worklist", "worklist_dock", self.worklist_panel, Area.LeftDockWidgetArea
        )
        self.worklist_dock.hide()
        # The side columns run the full height; the profile sits under the image.
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
        self.resizeDocks([self.ai_dock], [330], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks(
            [self.ai_dock, self.triage_dock], [300, 500], QtCore.Qt.Orientation.Vertical
        )
        self.resizeDocks([self.profile_dock], [200], QtCore.Qt.Orientation.Vertical)
        self.ai_progress = QtWidgets.QProgressBar()
        self.ai_progress.setObjectName("ai_progress")
        self.ai_progress.setFixedWidth(140)
        self.ai_progress.setFormat("AI %v/%m")
        self.ai_progress.hide()
        self.statusBar().addPermanentWidget(self.ai_progress)
        self._model_chosen: Path | None = None
        self._heatmap_on = False
        self._overlay_key: tuple | None = None
        self._flagged: list[FlaggedSlice] = []
        self.ai_actions = build_ai_actions(self)
        self._init_review()
        c = self.ai
        c.model_changed.connect(self._on_ai_model_changed)
        c.model_error.connect(self._on_ai_model_error)
        c.scores_changed.connect(self._on_ai_scores)
        c.progress_changed.connect(self._on_ai_progress)
        c.scoring_finished.connect(self._on_ai_finished)
        c.scoring_failed.connect(lambda m: self.statusBar().showMessage(f"AI: {m}", STATUS_MS))
        c.cam_ready.connect(lambda i: self.refresh_heatmap() if i == self._index else None)
        self.profile.slice_clicked.connect(self.set_slice)
        self.triage_panel.slice_chosen.connect(self.set_slice)
        self.triage_panel.order_changed.connect(lambda _o: self._on_ai_scores())
        hc = self.heatmap_controls
        hc.toggled.connect(self.set_heatmap)
        hc.changed.connect(self._on_heatmap_settings)
        self.worklist_panel.open_requested.connect(lambda p: self.open_paths([p]))
        self._on_ai_model_changed()
        if c.site.warnings:  # an administrator's typo: say so, keep going with defaults
            self.statusBar().showMessage(
                f"Site config: {len(c.site.warnings)} problem(s), defaults used: "
                + "; ".join(c.site.warnings),
                STATUS_MS,
            )

    # -- series and slice (called by MainWindow) --------------------------------------------

    def _ai_series_opened(self: MainWindow) -> None:
        reader = self.reader
        s = reader.series
        self.profile.set_positions(
            [ref.position_mm for ref in s.slices], unit_mm=s.sorted_by == "position"
        )
        self._load_marks()
        self.ai.set_series(
            reader,
            self._index,
            score=effective_auto_score(self.settings.ai_autoscore, self.ai.site),
        )
        if self._heatmap_on:
            self.ai.ensure_model()
        self._on_ai_scores()

    def _ai_series_closed(self: MainWindow) -> None:
        self._commit_pending_note()
        self.ai.close_series()
        self.marks = None
        self._flagged = []
        self.profile.set_positions(None)
        self._overlay_key = None
        self.image_view.set_overlay(None)
        self._on_ai_scores()

    def _ai_load_cancelled(self: MainWindow) -> None:
        """Loading was cancelled: the AI scores what has been decoded and decodes no more."""
        self.ai.only_loaded_slices()

    def _ai_slice_shown(self: MainWindow) -> None:
        if self.reader is None:
            return
        i = self._index
        self.ai.focus(i)
        self.profile.set_current(i)
        self.triage_panel.set_current(i)
        self._update_probability_panel()
        self._show_marks()
        self.refresh_heatmap()

    def score_study(self: MainWindow) -> None:
        """AI > Score this study (when automatic scoring is off)."""
        if self.reader is None:
            self.statusBar().showMessage("Open a study first", STATUS_MS)
            return
        self.ai.score()

    def set_autoscore(self: MainWindow, on: bool) -> None:
        self.settings.ai_autoscore = bool(on)

    # -- scores -> widgets -----------------------------------------------------------------

    def _on_ai_scores(self: MainWindow) -> None:
        probs = self.ai.probabilities
        thr = self.ai.thresholds
        self.profile.set_probabilities(probs)
        self._flagged = flagged_slices(probs, thr, order=self.triage_panel.order_name)
        if self.reader is None:
            self.triage_panel.set_summary("No study open")
        elif not self.ai.scope.in_scope:
            self.triage_panel.set_summary(
                f"Out of the model's scope, nothing flagged: {self.ai.scope.reason}"
            )
        elif self.ai.ready:
            self.triage_panel.set_summary(
                self._study_line() + study_summary(probs, thr).line(SHORT)
            )
        else:
            self.triage_panel.set_summary(self._ai_state_text())
        self._refresh_triage_rows()
        self._update_probability_panel()
        if self.reader is not None:
            self.marks_panel.context.setText(self._marks_context())
        if self._heatmap_on:
            self.refresh_heatmap()

    def _study_line(self: MainWindow) -> str:
        """'Study: FLAGGED (P(any) 0.97, threshold 0.90) · ' and any scope warning."""
        d = self.ai.study_decision()
        warn = f"⚠ {self.ai.scope.reason} · " if self.ai.scope.reason else ""
        if d is None or d.probability is None:
            return warn
        call = "FLAGGED" if d.flagged else "not flagged"
        return f"{warn}Study: {call} (P(any) {fmt_p(d.probability)}, threshold {fmt_p(d.threshold)}) · "

    def _refresh_triage_rows(self: MainWindow) -> None:
        self.triage_panel.set_rows(
            self._flagged, self._marks_by_index(), self.n_slices, self._index
        )

    def _update_probability_panel(self: MainWindow) -> None:
        p = self.ai.probabilities_at(self._index) if self.reader is not None else None
        heading = ""
        if self.reader is not None:
            heading = f"Slice {self._index + 1}/{self.n_slices}"
        if self.reader is not None and not self.ai.scope.in_scope:
            p = None  # bars for a chest or an MR would read as findings: say why there are none
            # Short: the full reason is in the second-read summary, and a long text here
            # outgrows the panel.
            status = (
                f"Out of scope: {self.ai.scope.reason.split(':')[0]}. Nothing is flagged "
                "on this series (the reason is under Second read)."
            )
        elif p is not None:
            status = self._context_text()
            if self.ai.scope.reason:
                status = f"⚠ {self.ai.scope.reason}. " + status
        elif self.reader is None:
            status = "No study open"
        elif not self.ai.ready:
            status = self._ai_state_text()
        elif self.ai.scoring_error:
            status = f"AI scoring failed: {self.ai.scoring_error}"
        elif self.ai.scoring or not self.ai.scoring_done:
            status = "Not scored yet" + (" (scoring…)" if self.ai.scoring else "")
        else:
            status = "Not scored (slice could not be read)"
        out = self.reader is not None and not self.ai.scope.in_scope
        self.probability_panel.set_probabilities(p, status, heading, rows=not out)

    def _context_text(self: MainWindow) -> str:
        """Under the bars: how the slice's neighbours entered its probabilities, and what the
        network said of the slice alone."""
        info = self.ai.info
        if info is None or not info.context_mm:
            return ""
        alone = self.ai.slice_probabilities_at(self._index)
        reach = f"{max(info.context_mm):g}"
        if self.ai.context_pending(self._index):
            head = f"Series context (±{reach} mm): neighbours still being scored"
        else:
            head = f"With the slices ±{reach} mm around (series context)"
        if alone is None:
            return head
        return f"{head}; this slice alone: any {fmt_p(float(alone[LABELS.index('any')]))}"

    def _ai_state_text(self: MainWindow) -> str:
        st = self.ai.state
        if st == "idle":
            return "Not scored yet (automatic scoring is off: AI > Score this study)"
        if st == "loading":
            return "Not scored yet (loading the AI model…)"
        return self.ai.message or "No AI model"

    def _on_ai_progress(self: MainWindow, done: int, total: int) -> None:
        bar = self.ai_progress
        if total and done < total and self.ai.scoring:
            bar.setRange(0, total)
            bar.setValue(done)
            bar.show()
        else:
            bar.hide()

    def _on_ai_finished(self: MainWindow) -> None:
        self.ai_progress.hide()
        c = self.ai
        cached = f" ({c.n_from_cache} from the cache)" if c.n_from_cache else ""
        self.statusBar().showMessage(
            f"AI: {c.n_scored} slices scored{cached}, {len(self._flagged)} flagged — "
            "not for diagnostic use",
            STATUS_MS,
        )

    # -- model -----------------------------------------------------------------------------

    def _on_ai_model_changed(self: MainWindow) -> None:
        c = self.ai
        info = c.info
        footer = info.footer() if info is not None else ""
        for panel in (self.probability_panel, self.profile, self.triage_panel, self.worklist_panel):
            panel.footer.set_model_text(footer)
        thr = None if info is None else info.thresholds
        self.probability_panel.set_thresholds(thr)
        self.profile.set_thresholds(thr)
        if c.state == "error" and self._model_from_settings and not c.ready:
            # The model chosen last session is gone or broken: say so, use the bundled one.
            self._model_from_settings = False
            self.statusBar().showMessage(f"{c.message}; using the bundled model", STATUS_MS * 2)
            self.settings.model_path = ""
            c.use_default_model()
            return
        if c.state in ("missing", "error"):
            self.statusBar().showMessage(c.message, STATUS_MS * 2)
        chosen = self._model_chosen
        if chosen is not None and info is not None and c.custom_model_path == chosen:
            self.settings.model_path = str(chosen)  # the reader's choice is kept for next time
            self._model_chosen = None
        self._on_ai_scores()

    def _on_ai_model_error(self: MainWindow, message: str) -> None:
        kept = (
            f"The current model ({self.ai.info.name}, sha {self.ai.info.short_sha}) is still in use."
            if self.ai.info is not None
            else "The viewer goes on without AI."
        )
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning,
            "Model not loaded",
            f"The checkpoint was refused:\n\n{message}\n\n{kept}",
            QtWidgets.QMessageBox.StandardButton.Ok,
            self,
        )
        self._model_chosen = None
        box.setObjectName("model_error_box")
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.statusBar().showMessage(f"Model not loaded: {message}", STATUS_MS * 2)

    def choose_model(self: MainWindow) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Load an AI model", "", "ICH Viewer checkpoint (*.pt *.pth);;All files (*)"
        )
        if path:
            self.load_model(path)

    def load_model(self: MainWindow, path: str | Path) -> None:
        """Validate another checkpoint in the background; the study is rescored with it."""
        self.statusBar().showMessage(f"Checking model {Path(path).name}…", STATUS_MS)
        self._model_chosen = Path(path)
        self.ai.load_model(path)

    def show_model_panel(self: MainWindow) -> QtWidgets.QDialog:
        self.ai.ensure_model()
        dlg = model_panel.model_dialog(self, self.ai.info, self._ai_state_text(), self.choose_model)
        dlg.show()
        return dlg

    # -- flagged slices --------------------------------------------------------------------

    def next_flagged(self: MainWindow) -> None:
        """N: the next flagged slice in the triage list's order."""
        self._step_flagged(+1)

    def previous_flagged(self: MainWindow) -> None:
        """Shift+N or P: the previous one."""
        self._step_flagged(-1)

    def _step_flagged(self: MainWindow, step: int) -> None:
        target = step_flagged(self._flagged, self._index, step)
        if target is None:
            why = "no flagged slices" if self.ai.scoring_done else "no flagged slices yet"
            self.statusBar().showMessage(f"AI: {why}", STATUS_MS)
            return
        self.set_slice(target)

    @property
    def flagged(self: MainWindow) -> list[FlaggedSlice]:
        return list(self._flagged)

    def ai_ready_for_screenshot(self: MainWindow, want_cam: bool) -> bool:
        """True when what a screenshot should show is there: the slice's scores (and CAM),
        the whole study scored, or no model to wait for."""
        c = self.ai
        if self.reader is None or c.state in ("missing", "error", "off"):
            return True
        if not c.ready or c.probabilities_at(self._index) is None or c.scoring:
            return False
        return not want_cam or c.cam(self._index) is not None

    def _ai_probability_line(self: MainWindow) -> str:
        p = self.ai.probabilities_at(self._index)
        if p is None:
            return "AI: not scored"
        hot = [lb for lb, v, t in zip(LABELS, p, self.ai.thresholds, strict=True) if v >= t]
        return (
            f"P(any) {fmt_p(p[LABELS.index('any')])}; flagged: {', '.join(hot) if hot else 'none'}"
        )

    def _ai_shutdown(self: MainWindow) -> None:
        self._commit_pending_note()
        self.worklist_panel.shutdown()
        self.ai.shutdown()
