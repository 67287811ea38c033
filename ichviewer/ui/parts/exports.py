"""Exports: the AI results of the open series with the reader's marks (File > Export
results, JSON or CSV), and the view as shown above a legend strip (File > Export view)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from ichviewer.core.heatmap import colorbar
from ichviewer.core.labels import LABELS
from ichviewer.io.marks import results_report, write_results
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.ai_style import DISCLAIMER
from ichviewer.ui.export import view_with_legend
from ichviewer.ui.parts.common import StatusBar
from ichviewer.ui.parts.heatmap import HeatmapPart
from ichviewer.ui.state import ViewerState


class ExportPart:
    """Reads the state, the controller and the heatmap; owns no widgets but file dialogs.
    ``probability_line``: the AI line of the slice on screen; ``before``: called first
    (saves a note being typed); ``measurements``: the reader's measurements as dicts."""

    def __init__(
        self,
        win: QtWidgets.QMainWindow,
        state: ViewerState,
        ai: AIController,
        heatmap: HeatmapPart,
        probability_line: Callable[[], str],
        before: Callable[[], None],
        measurements: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.win, self.state, self.ai, self.heatmap = win, state, ai, heatmap
        self.status = StatusBar(win)
        self._probability_line, self._before = probability_line, before
        self._measurements = measurements or list

    def results_report(self) -> dict[str, Any]:
        """AI results of the open series with the reader's marks."""
        if self.state.reader is None:
            raise RuntimeError("no study is open")
        s, info = self.state.reader.series, self.ai.info
        return results_report(
            study_uid=s.study_instance_uid,
            series_uid=s.series_instance_uid,
            description=s.description,
            slices=[(ref.sop_instance_uid, ref.position_mm) for ref in s.slices],
            probabilities=self.ai.probabilities,
            thresholds=self.ai.thresholds if info is not None else [1.0] * len(LABELS),
            model=info.as_dict() if info is not None else {"name": None, "sha256": None},
            marks=self.state.marks,
            disclaimer=info.footer() if info is not None else DISCLAIMER,
            measurements=self._measurements(),
        )

    def export_results(self, path: str | Path) -> Path:
        """Write the report as JSON, or CSV when ``path`` ends in .csv."""
        self._before()
        out = write_results(Path(path), self.results_report())
        self.status.say(f"Results exported to {out}")
        return out

    def choose_export_results(self) -> None:
        if self.state.reader is None:
            self.status.say("Open a study first")
            return
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self.win,
            "Export AI results and marks",
            "ichviewer-results.json",
            "JSON (*.json);;CSV (*.csv)",
        )
        if not path:
            return
        if Path(path).suffix.lower() not in (".json", ".csv"):
            path += ".csv" if "csv" in chosen.lower() else ".json"
        self._or_warn(lambda: self.export_results(path))

    def legend_lines(self) -> list[tuple[str, str]]:
        """What the exported picture says under the image."""
        r, i = self.state.reader, self.state.index
        lines = []
        if r is not None:
            s = r.series
            lines.append((f"Slice {i + 1}/{s.n_slices} · {s.description}", "#dcdcdc"))
        lines.append((self._probability_line(), "#dcdcdc"))
        if self.state.heatmap_on and self.heatmap.view.overlay_item.isVisible():
            lines.append((f"Heatmap: {self.heatmap.controls.info.text()}", "#dcdcdc"))
        info = self.ai.info
        model = info.footer() if info is not None else f"no AI model — {DISCLAIMER.lower()}"
        lines.append((f"Model: {model}", "#9a9a9a"))
        lines.append((DISCLAIMER.upper(), "#ffb000"))
        return lines

    def export_view_png(self, path: str | Path) -> Path:
        """The image view as shown (overlay and corner text) above a legend strip."""
        hm = self.heatmap
        bar = colorbar(hm.controls.colormap, 256, 8) if self.state.heatmap_on else None
        img = view_with_legend(hm.view, self.legend_lines(), bar)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not img.save(str(out), "PNG"):
            raise OSError(f"could not write {out}")
        self.status.say(f"View saved to {out}")
        return out

    def choose_export_view(self) -> None:
        if self.state.reader is None:
            self.status.say("Open a study first")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.win,
            "Export view as PNG",
            f"ichviewer-slice{self.state.index + 1}.png",
            "PNG (*.png)",
        )
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self._or_warn(lambda: self.export_view_png(path))

    def _or_warn(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except (OSError, ValueError, RuntimeError) as exc:  # shown to the user, not raised
            QtWidgets.QMessageBox.warning(self.win, "Export failed", str(exc))
