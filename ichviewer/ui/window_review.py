"""The main window's second read: the reader's marks (saved on every change), exports of
results and of the view, and the worklist. A mixin like window_ai.py; it uses MainWindow's
attributes (reader, ai, marks_panel, triage_panel, settings, statusBar, ...)."""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtWidgets

from ichviewer.core.heatmap import colorbar
from ichviewer.core.labels import LABELS
from ichviewer.io.marks import StudyMarks, load_marks, results_report, save_marks, write_results
from ichviewer.ui.ai_style import DISCLAIMER, SHORT
from ichviewer.ui.export import view_with_legend

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow

logger = logging.getLogger("ichviewer.ui")
STATUS_MS = 8000


class ReviewMixin:
    """Marks, exports and the worklist."""

    def _init_review(self: MainWindow) -> None:
        self.marks: StudyMarks | None = None
        self._marks_slice: int | None = None
        mp = self.marks_panel
        mp.verdict_chosen.connect(self.mark_current)
        mp.note_changed.connect(self._on_note_changed)

    # -- marks -----------------------------------------------------------------------------

    def _load_marks(self: MainWindow) -> None:
        s = self.reader.series
        self.marks, warning = load_marks(s.study_instance_uid, s.series_instance_uid)
        self._marks_slice = None
        if warning:
            self.statusBar().showMessage(warning, STATUS_MS * 2)
        n = len(self.marks.marks)
        self.marks_panel.set_saved_text(f"{n} saved mark{'s' * (n != 1)}" if n else "")
        self.marks_panel.set_enabled(True)

    def _uid(self: MainWindow, index: int) -> str:
        return self.reader.series.slices[index].sop_instance_uid

    def _marks_by_index(self: MainWindow) -> dict[int, str | None]:
        """Slice index -> verdict of every marked slice of the open series."""
        if self.marks is None or self.reader is None:
            return {}
        index = {ref.sop_instance_uid: i for i, ref in enumerate(self.reader.series.slices)}
        return {index[u]: m.verdict for u, m in self.marks.marks.items() if u in index}

    def _show_marks(self: MainWindow) -> None:
        """Put the marks panel on the slice on screen (a note being typed for the previous
        slice is saved first)."""
        self._commit_pending_note()
        i = self._index
        self._marks_slice = i
        mark = self.marks.get(self._uid(i)) if self.marks is not None else None
        self.marks_panel.show_mark(
            mark.verdict if mark else None, mark.note if mark else "", self._marks_context()
        )

    def _marks_context(self: MainWindow) -> str:
        """'Slice 12 · AI flagged EDH any': what the reader is marking."""
        i = self._index
        fired = [f for f in self._flagged if f.index == i]
        if fired:
            return f"Slice {i + 1} · AI flagged {' '.join(SHORT[lb] for lb in fired[0].labels)}"
        if self.ai.probabilities_at(i) is None:
            return f"Slice {i + 1} · AI: not scored yet"
        return f"Slice {i + 1} · AI: not flagged"

    def _commit_pending_note(self: MainWindow) -> None:
        if getattr(self, "marks_panel", None) is not None:
            self.marks_panel.commit_note()

    def mark_current(self: MainWindow, verdict: str | None) -> None:
        """A / D / U: the reader agrees / disagrees / is unsure about the AI on this slice
        (None clears the verdict). Saved at once."""
        if self.marks is None or self.reader is None:
            self.statusBar().showMessage("Open a study to mark slices", STATUS_MS)
            return
        self._change_mark(self._index, verdict=verdict)

    def _on_note_changed(self: MainWindow, text: str) -> None:
        if self._marks_slice is not None and self.marks is not None:
            self._change_mark(self._marks_slice, note=text)

    def _change_mark(self: MainWindow, index: int, **change: Any) -> None:
        p = self.ai.probabilities_at(index)
        labels = (
            []
            if p is None
            else [lb for lb, v, t in zip(LABELS, p, self.ai.thresholds, strict=True) if v >= t]
        )
        self.marks.update(
            self._uid(index),
            index=index,
            position_mm=float(self.reader.series.slices[index].position_mm),
            ai_labels=labels,
            model_sha256=self.ai.info.sha256 if self.ai.info is not None else "",
            **change,
        )
        self._save_marks()
        if index == self._index:
            mark = self.marks.get(self._uid(index))
            verdict = mark.verdict if mark else None
            for v, b in self.marks_panel.buttons.items():
                b.setChecked(v == verdict)
        self._refresh_triage_rows()

    def _save_marks(self: MainWindow) -> bool:
        try:
            path = save_marks(self.marks)
        except OSError as exc:
            msg = f"Marks NOT saved: {exc.strerror or exc}"
            logger.error("marks could not be saved: %s", exc)
            self.marks_panel.set_saved_text(msg)
            self.statusBar().showMessage(msg, STATUS_MS * 2)
            return False
        n = len(self.marks.marks)
        when = _dt.datetime.now().strftime("%H:%M:%S")
        self.marks_panel.set_saved_text(f"Saved {when} · {n} mark{'s' * (n != 1)} ({path.name})")
        return True

    # -- exports ---------------------------------------------------------------------------

    def results_report(self: MainWindow) -> dict[str, Any]:
        """AI results of the open series with the reader's marks (File > Export results)."""
        if self.reader is None:
            raise RuntimeError("no study is open")
        s = self.reader.series
        info = self.ai.info
        return results_report(
            study_uid=s.study_instance_uid,
            series_uid=s.series_instance_uid,
            description=s.description,
            slices=[(ref.sop_instance_uid, ref.position_mm) for ref in s.slices],
            probabilities=self.ai.probabilities,
            thresholds=self.ai.thresholds if info is not None else [1.0] * len(LABELS),
            model=info.as_dict() if info is not None else {"name": None, "sha256": None},
            marks=self.marks,
            disclaimer=info.footer() if info is not None else DISCLAIMER,
        )

    def export_results(self: MainWindow, path: str | Path) -> Path:
        """Write the report as JSON, or CSV when ``path`` ends in .csv."""
        self._commit_pending_note()
        out = write_results(Path(path), self.results_report())
        self.statusBar().showMessage(f"Results exported to {out}", STATUS_MS)
        return out

    def choose_export_results(self: MainWindow) -> None:
        if self.reader is None:
            self.statusBar().showMessage("Open a study first", STATUS_MS)
            return
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self,
            "Export AI results and marks",
            "ichviewer-results.json",
            "JSON (*.json);;CSV (*.csv)",
        )
        if not path:
            return
        if Path(path).suffix.lower() not in (".json", ".csv"):
            path += ".csv" if "csv" in chosen.lower() else ".json"
        self._export_or_warn(lambda: self.export_results(path))

    def legend_lines(self: MainWindow) -> list[tuple[str, str]]:
        """What the exported picture says under the image."""
        s = self.reader.series if self.reader is not None else None
        lines = []
        if s is not None:
            lines.append((f"Slice {self._index + 1}/{s.n_slices} · {s.description}", "#dcdcdc"))
        lines.append((self._ai_probability_line(), "#dcdcdc"))
        if self.heatmap_on and self.image_view.overlay_item.isVisible():
            lines.append((f"Heatmap: {self.heatmap_controls.info.text()}", "#dcdcdc"))
        info = self.ai.info
        model = info.footer() if info is not None else f"no AI model — {DISCLAIMER.lower()}"
        lines.append((f"Model: {model}", "#9a9a9a"))
        lines.append((DISCLAIMER.upper(), "#ffb000"))
        return lines

    def export_view_png(self: MainWindow, path: str | Path) -> Path:
        """The image view as shown (overlay and corner text) above a legend strip."""
        bar = colorbar(self.heatmap_controls.colormap, 256, 8) if self.heatmap_on else None
        img = view_with_legend(self.image_view, self.legend_lines(), bar)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not img.save(str(out), "PNG"):
            raise OSError(f"could not write {out}")
        self.statusBar().showMessage(f"View saved to {out}", STATUS_MS)
        return out

    def choose_export_view(self: MainWindow) -> None:
        if self.reader is None:
            self.statusBar().showMessage("Open a study first", STATUS_MS)
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export view as PNG", f"ichviewer-slice{self._index + 1}.png", "PNG (*.png)"
        )
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self._export_or_warn(lambda: self.export_view_png(path))

    def _export_or_warn(self: MainWindow, fn) -> None:  # noqa: ANN001
        try:
            fn()
        except (OSError, ValueError, RuntimeError) as exc:  # shown to the user, not raised
            QtWidgets.QMessageBox.warning(self, "Export failed", str(exc))

    # -- worklist --------------------------------------------------------------------------

    def choose_worklist(self: MainWindow) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Open a worklist (a folder whose subfolders or zips are studies)"
        )
        if d:
            self.open_worklist(d)

    def open_worklist(self: MainWindow, folder: str | Path) -> int:
        """List the studies of ``folder`` and score them one by one in the background."""
        if not self.series_list:
            self.series_dock.hide()  # nothing to pick from yet: give the worklist the room
        self.worklist_dock.show()
        self.worklist_dock.raise_()
        self.resizeDocks([self.worklist_dock], [430], QtCore.Qt.Orientation.Horizontal)
        n = self.worklist_panel.set_folder(folder)
        self.statusBar().showMessage(f"Worklist: {n} studies in {folder}", STATUS_MS)
        return n
