"""The AI's scores as the reader meets them: the probabilities of the slice on screen (with
what the series context did), the study profile, the AI progress bar, the flagged slices
(into the state, for the second-read list and N / Shift+N / P) and AI > Score this study.
Follows the state's series and slice and the controller's scores."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_labels, step_flagged
from ichviewer.site_config import effective_auto_score
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.ai_style import fmt_p
from ichviewer.ui.parts.common import StatusBar, ai_state_text
from ichviewer.ui.probability_panel import ProbabilityPanel
from ichviewer.ui.profile_plot import ProfilePlot
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import ViewerState


class AIPanelsPart:
    """Owns the probability panel, the study profile and the AI progress bar."""

    def __init__(
        self,
        win: QtWidgets.QMainWindow,
        state: ViewerState,
        settings: ViewerSettings,
        ai: AIController,
    ) -> None:
        self.state, self.settings, self.ai = state, settings, ai
        self.status = StatusBar(win)
        self.probability_panel = ProbabilityPanel()
        self.profile = ProfilePlot()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("ai_progress")
        self.progress.setFixedWidth(140)
        self.progress.setFormat("AI %v/%m")
        self.progress.hide()
        self.status.add(self.progress)
        self.profile.slice_clicked.connect(state.set_index)
        state.series.connect(self._on_series)
        state.index_changed.connect(self._on_index)
        state.flag_order_changed.connect(self._on_scores)
        ai.scores_changed.connect(self._on_scores)
        ai.progress_changed.connect(self._on_progress)
        ai.scoring_finished.connect(self._on_finished)
        ai.scoring_failed.connect(lambda m: self.status.say(f"AI: {m}"))
        ai.model_changed.connect(self._on_model_changed)

    # -- following the state and the scores ------------------------------------------------

    def _on_series(self) -> None:
        r = self.state.reader
        if r is None:
            self.ai.close_series()
            self.profile.set_positions(None)
        else:
            s = r.series
            self.profile.set_positions(
                [ref.position_mm for ref in s.slices], unit_mm=s.sorted_by == "position"
            )
            score = effective_auto_score(self.settings.ai_autoscore, self.ai.site)
            self.ai.set_series(r, self.state.index, score=score, cam=self.state.heatmap_on)
        self._on_scores()

    def _on_index(self) -> None:
        if self.state.reader is None:
            return
        i = self.state.index
        self.ai.focus(i)
        self.profile.set_current(i)
        self.update_probability_panel()

    def _on_scores(self) -> None:
        self.profile.set_probabilities(self.ai.probabilities)
        flags = (
            [] if self.ai.scores is None else self.ai.scores.flagged_slices(self.state.flag_order)
        )
        self.state.set_flags(flags)
        self.update_probability_panel()

    def _on_model_changed(self) -> None:
        info = self.ai.info
        thr = None if info is None else info.thresholds
        self.probability_panel.set_thresholds(thr)
        self.profile.set_thresholds(thr)
        footer = info.footer() if info is not None else ""
        for panel in (self.probability_panel, self.profile):
            panel.footer.set_model_text(footer)
        self._on_scores()

    def update_probability_panel(self) -> None:
        """Bars of the slice on screen, or why there are none."""
        ai, r, i = self.ai, self.state.reader, self.state.index
        p = ai.probabilities_at(i) if r is not None else None
        heading = f"Slice {i + 1}/{self.state.n_slices}" if r is not None else ""
        out = r is not None and not ai.scope.in_scope
        if out:
            p = None  # bars for a chest or an MR would read as findings: say why there are none
            # Short: the full reason is in the second-read summary, and a long text here
            # outgrows the panel.
            status = (
                f"Out of scope: {ai.scope.reason.split(':')[0]}. Nothing is flagged "
                "on this series (the reason is under Second read)."
            )
        elif p is not None:
            status = self._context_text()
            if ai.scope.reason:
                status = f"⚠ {ai.scope.reason}. " + status
        elif r is None:
            status = "No study open"
        elif not ai.ready:
            status = ai_state_text(ai)
        elif ai.scoring_error:
            status = f"AI scoring failed: {ai.scoring_error}"
        elif ai.scoring or not ai.scoring_done:
            status = "Not scored yet" + (" (scoring…)" if ai.scoring else "")
        else:
            status = "Not scored (slice could not be read)"
        self.probability_panel.set_probabilities(p, status, heading, rows=not out)

    def _context_text(self) -> str:
        """Under the bars: how the slice's neighbours entered its probabilities, and what the
        network said of the slice alone."""
        info, scores, i = self.ai.info, self.ai.scores, self.state.index
        if info is None or not info.context_mm or scores is None:
            return ""
        alone = scores.raw_at(i)
        reach = f"{max(info.context_mm):g}"
        if scores.context_pending(i):
            head = f"Series context (±{reach} mm): neighbours still being scored"
        else:
            head = f"With the slices ±{reach} mm around (series context)"
        if alone is None:
            return head
        return f"{head}; this slice alone: any {fmt_p(float(alone[LABELS.index('any')]))}"

    def _on_progress(self, done: int, total: int) -> None:
        bar = self.progress
        if total and done < total and self.ai.scoring:
            bar.setRange(0, total)
            bar.setValue(done)
            bar.show()
        else:
            bar.hide()

    def _on_finished(self) -> None:
        self.progress.hide()
        ai = self.ai
        cached = f" ({ai.n_from_cache} from the cache)" if ai.n_from_cache else ""
        self.status.say(
            f"AI: {ai.n_scored} slices scored{cached}, {len(self.state.flags)} flagged — "
            "not for diagnostic use"
        )

    # -- commands --------------------------------------------------------------------------

    def score_study(self) -> None:
        """AI > Score this study (when automatic scoring is off)."""
        if self.state.reader is None:
            self.status.say("Open a study first")
            return
        self.ai.score()

    def set_autoscore(self, on: bool) -> None:
        self.settings.ai_autoscore = bool(on)

    def next_flagged(self) -> None:
        """N: the next flagged slice in the second-read list's order."""
        self._step_flagged(+1)

    def previous_flagged(self) -> None:
        """Shift+N or P: the previous one."""
        self._step_flagged(-1)

    def _step_flagged(self, step: int) -> None:
        target = step_flagged(self.state.flags, self.state.index, step)
        if target is None:
            why = "no flagged slices" if self.ai.scoring_done else "no flagged slices yet"
            self.status.say(f"AI: {why}")
            return
        self.state.set_index(target)

    def probability_line(self) -> str:
        """'P(any) 0.97; flagged: epidural, any' of the slice on screen (for exports)."""
        p = self.ai.probabilities_at(self.state.index)
        if p is None:
            return "AI: not scored"
        hot = flagged_labels(p, self.ai.thresholds)
        any_p = fmt_p(p[LABELS.index("any")])
        return f"P(any) {any_p}; flagged: {', '.join(hot) if hot else 'none'}"


def scrolling_column(*widgets: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    """``widgets`` stacked, in a frameless vertical scroll area: when the dock is shorter
    than the wrapped captions need, it scrolls; rows never overlap or get clipped."""
    box = QtWidgets.QWidget()
    lay = QtWidgets.QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(0)
    for w in widgets:
        lay.addWidget(w)
    lay.addStretch(1)
    area = QtWidgets.QScrollArea()
    area.setObjectName("ai_scroll")
    area.setWidget(box)
    area.setWidgetResizable(True)
    area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    return area


def content_height(area: QtWidgets.QScrollArea, width: int) -> int:
    """The height ``area``'s content needs at ``width`` (its wrapped captions included)."""
    box = area.widget()
    lay = box.layout()
    h = lay.heightForWidth(width) if lay.hasHeightForWidth() else -1
    return max(h, box.minimumSizeHint().height())
