"""The second read: the flagged-slice list (its order, the study-level call, the scope) and
the reader's marks (agree / disagree / unsure and a note per slice, saved on every change).
Follows the state's series, slice, flags and marks."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets

from ichviewer.core.triage import flagged_labels, study_summary
from ichviewer.io.marks import load_marks, save_marks
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.ai_style import SHORT, fmt_p
from ichviewer.ui.marks_panel import MarksPanel
from ichviewer.ui.parts.common import StatusBar, ai_state_text, column
from ichviewer.ui.state import ViewerState
from ichviewer.ui.triage_panel import TriagePanel

logger = logging.getLogger("ichviewer.ui")


class ReviewPart:
    """Owns the triage list and the marks panel (the "Second read" dock's content)."""

    def __init__(
        self,
        win: QtWidgets.QMainWindow,
        state: ViewerState,
        ai: AIController,
        focus_image: Callable[[], None] | None = None,
    ) -> None:
        """``focus_image`` gives the keyboard back to the image (Escape or Enter in the note)."""
        self.state, self.ai = state, ai
        self._note_keys = _LeaveNoteKeys(self._leave_note)
        self.status = StatusBar(win)
        self.triage_panel = TriagePanel()
        self.marks_panel = MarksPanel()
        self.widget = column(self.triage_panel, self.marks_panel, stretch=0)
        for label in (self.marks_panel.saved, self.marks_panel.context):
            # A long message wraps (or is cut) inside the dock; it never widens the panels.
            label.setWordWrap(True)
            label.setSizePolicy(
                QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
            )
        self._focus_image = focus_image
        self.marks_panel.note.installEventFilter(self._note_keys)
        self._marks_slice: int | None = None
        self.marks_panel.verdict_chosen.connect(self.mark_current)
        self.marks_panel.note_changed.connect(self._on_note_changed)
        self.triage_panel.slice_chosen.connect(state.set_index)
        self.triage_panel.order_changed.connect(state.set_flag_order)
        # Anatomical order by default: N / Shift+N walk up / down the head, as a reader
        # scrolls; the list can still be sorted most suspicious first.
        self.triage_panel.set_order("position")
        state.set_flag_order("position")
        ai.model_changed.connect(self._on_model_changed)
        state.closing.connect(self.commit_note)
        state.series.connect(self._on_series)
        state.index_changed.connect(self._on_index)
        state.flags_changed.connect(self._on_flags)
        state.marks_changed.connect(self._refresh_rows)

    # -- following the state ---------------------------------------------------------------

    def _on_series(self) -> None:
        r = self.state.reader
        self._marks_slice = None
        if r is None:
            self.state.set_marks(None)
            return
        s = r.series
        marks, warning = load_marks(s.study_instance_uid, s.series_instance_uid)
        if warning:
            self.status.say(warning, 2)
        n = len(marks.marks)
        self.marks_panel.set_saved_text(f"{n} saved mark{'s' * (n != 1)}" if n else "")
        self.marks_panel.set_enabled(True)
        self.state.set_marks(marks)

    def _on_index(self) -> None:
        """Put the list and the marks panel on the slice on screen (a note being typed for
        the previous slice is saved first)."""
        if self.state.reader is None:
            return
        i = self.state.index
        self.triage_panel.set_current(i)
        self.commit_note()
        self._marks_slice = i
        mark = self.state.marks.get(self._uid(i)) if self.state.marks is not None else None
        self.marks_panel.show_mark(
            mark.verdict if mark else None, mark.note if mark else "", self._context()
        )

    def _on_flags(self) -> None:
        self.triage_panel.set_summary(self._summary())
        self._refresh_rows()
        if self.state.reader is not None:
            self.marks_panel.context.setText(self._context())

    def _on_model_changed(self) -> None:
        info = self.ai.info
        self.triage_panel.footer.set_model_text(info.footer() if info is not None else "")

    def _summary(self) -> str:
        ai = self.ai
        if self.state.reader is None:
            return "No study open"
        if not ai.scope.in_scope:
            return f"Out of the model's scope, nothing flagged: {ai.scope.reason}"
        if not ai.ready:
            return ai_state_text(ai)
        line = study_summary(ai.probabilities, ai.thresholds).line(SHORT)
        return self._study_line() + line

    def _study_line(self) -> str:
        """'Study: FLAGGED (P(any) 0.97, threshold 0.90) · ' and any scope warning."""
        scores = self.ai.scores
        d = scores.decision if scores is not None else None
        warn = f"⚠ {self.ai.scope.reason} · " if self.ai.scope.reason else ""
        if d is None or d.probability is None:
            return warn
        call = "FLAGGED" if d.flagged else "not flagged"
        return f"{warn}Study: {call} (P(any) {fmt_p(d.probability)}, threshold {fmt_p(d.threshold)}) · "

    def _refresh_rows(self) -> None:
        self.triage_panel.set_rows(
            self.state.flags, self.marks_by_index(), self.state.n_slices, self.state.index
        )

    def _context(self) -> str:
        """'Slice 12 · AI flagged EDH any': what the reader is marking."""
        i = self.state.index
        fired = self.state.flag_at(i)
        if fired is not None:
            return f"Slice {i + 1} · AI flagged {' '.join(SHORT[lb] for lb in fired.labels)}"
        if self.ai.probabilities_at(i) is None:
            return f"Slice {i + 1} · AI: not scored yet"
        return f"Slice {i + 1} · AI: not flagged"

    # -- marks -----------------------------------------------------------------------------

    def _uid(self, index: int) -> str:
        return self.state.reader.series.slices[index].sop_instance_uid

    def marks_by_index(self) -> dict[int, str | None]:
        """Slice index -> verdict of every marked slice of the open series."""
        marks, r = self.state.marks, self.state.reader
        if marks is None or r is None:
            return {}
        index = {ref.sop_instance_uid: i for i, ref in enumerate(r.series.slices)}
        return {index[u]: m.verdict for u, m in marks.marks.items() if u in index}

    def commit_note(self) -> None:
        """Save a note being typed (before the slice or the series changes)."""
        self.marks_panel.commit_note()

    def mark_current(self, verdict: str | None) -> None:
        """A / D / U: the reader agrees / disagrees / is unsure about the AI on this slice
        (None clears the verdict). Saved at once."""
        if self.state.marks is None or self.state.reader is None:
            self.status.say("Open a study to mark slices")
            return
        self._change_mark(self.state.index, verdict=verdict)

    def _leave_note(self) -> None:
        """Escape or Enter in the note: save it and give the keys back to the image, so the
        next A, N or 1 is a command again, not a letter in the note."""
        self.commit_note()
        if self._focus_image is not None:
            self._focus_image()
        else:
            self.marks_panel.note.clearFocus()

    def _on_note_changed(self, text: str) -> None:
        if self._marks_slice is not None and self.state.marks is not None:
            self._change_mark(self._marks_slice, note=text)

    def _change_mark(self, index: int, **change: Any) -> None:
        marks, ai = self.state.marks, self.ai
        p = ai.probabilities_at(index)
        marks.update(
            self._uid(index),
            index=index,
            position_mm=float(self.state.reader.series.slices[index].position_mm),
            ai_labels=[] if p is None else flagged_labels(p, ai.thresholds),
            model_sha256=ai.info.sha256 if ai.info is not None else "",
            **change,
        )
        self._save()
        if index == self.state.index:
            mark = marks.get(self._uid(index))
            verdict = mark.verdict if mark else None
            for v, b in self.marks_panel.buttons.items():
                b.setChecked(v == verdict)
        self.state.set_marks(marks)

    def _save(self) -> bool:
        marks = self.state.marks
        try:
            path = save_marks(marks)
        except OSError as exc:
            msg = f"Marks NOT saved: {exc.strerror or exc}"
            logger.error("marks could not be saved: %s", exc)
            self.marks_panel.set_saved_text(msg)
            self.status.say(msg, 2)
            return False
        n = len(marks.marks)
        when = _dt.datetime.now().strftime("%H:%M:%S")
        # Short: the file's name is long and would widen the dock; it is in the tooltip.
        self.marks_panel.set_saved_text(f"Saved {when} · {n} mark{'s' * (n != 1)}")
        self.marks_panel.saved.setToolTip(str(path))
        return True


class _LeaveNoteKeys(QtCore.QObject):
    """Event filter on the note field: Escape, Enter and Return leave it (``leave``).

    Escape is claimed on ShortcutOverride too, so no window-wide Escape action takes it
    while the reader is typing."""

    KEYS = (QtCore.Qt.Key.Key_Escape, QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter)

    def __init__(self, leave: Callable[[], None]) -> None:
        super().__init__()
        self._leave = leave

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        t = event.type()
        keyed = t in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress)
        if not keyed or event.key() not in self.KEYS:  # type: ignore[attr-defined]
            return False
        event.accept()
        if t == QtCore.QEvent.Type.KeyPress:
            self._leave()
        return True
