"""Worklist: a folder of studies (each immediate subfolder or .zip is one study; a folder of
loose files is one entry), one row per series of each study with its AI status, P(any) and
the study-level call, scored in the background one
study at a time (through the result cache, so a study scored before is quick). Sorted by
risk (study P(any), highest first) unless the reader sorts by another column; a study out
of the model's scope says so and is never flagged. Double-click opens a study."""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.errors import CancelledError, SeriesError
from ichviewer.ui.ai_style import FLAG_COLOUR, Footer, fmt_p
from ichviewer.ui.ai_worker import StudyScore
from ichviewer.ui.runner import RequestRunner
from ichviewer.ui.workers import JobError

if TYPE_CHECKING:
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ui.ai_controller import AIController

Report = Any  # Callable[[object], None]

logger = logging.getLogger("ichviewer.ui")

COLUMNS = ("Study", "P(any)", "Flagged", "AI status", "Slices", "Series")
COL_PANY, COL_FLAGGED, COL_STATUS, COL_SLICES, COL_SERIES = 1, 2, 3, 4, 5
STATUSES = ("queued", "scoring", "done", "out of scope", "error")
_SORT = QtCore.Qt.ItemDataRole.UserRole + 1
_PATH = QtCore.Qt.ItemDataRole.UserRole


def discover_studies(folder: str | Path) -> list[Path]:
    """Immediate subfolders and .zip files of ``folder`` (hidden ones skipped), by name."""
    folder = Path(folder)
    out = [
        p
        for p in folder.iterdir()
        if not p.name.startswith(".")
        and (p.is_dir() or (p.is_file() and p.suffix.lower() == ".zip"))
    ]
    if not out and any(p.is_file() and not p.name.startswith(".") for p in folder.iterdir()):
        return [folder]  # a folder of loose slices: the folder is the (one) entry
    return sorted(out, key=lambda p: p.name.lower())


def series_scores_job(
    path: str, predictor: Predictor, report: Report, cancel: threading.Event
) -> list[tuple[str, StudyScore]]:
    """Scan one worklist entry and score every series in it (through the result cache):
    (series UID, summary) per series, so a folder of 20 single-slice studies reads as 20
    items and a study's thin and thick series are both listed."""
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.engine import score_series
    from ichviewer.io import scan

    found = scan([path], cancel=cancel)
    if not found.series:
        why = f" ({found.errors[0].error})" if found.errors else ""
        raise SeriesError(f"{Path(path).name}: no CT image series found{why}")
    total = sum(s.n_slices for s in found.series)
    out: list[tuple[str, StudyScore]] = []
    done_before = 0
    cache = ResultCache(predictor.sha256)
    for series in found.series:
        base = done_before
        score = score_series(
            predictor,
            series,
            cache=cache,
            on_progress=lambda done, _n, b=base: report((b + done, total)),
            cancel=cancel,
        )
        done_before += series.n_slices
        if cancel.is_set():
            raise CancelledError("worklist scoring stopped")
        if not score.results:
            continue  # nothing of it could be scored: the other series still count
        summary = StudyScore.from_score(path, series, score)
        out.append((series.series_instance_uid, summary))
    if not out:
        raise SeriesError(f"{Path(path).name}: no slice could be scored")
    return out


class _Item(QtWidgets.QTableWidgetItem):
    """Sorts by a key stored beside the text (numbers as numbers, '–' last)."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        a, b = self.data(_SORT), other.data(_SORT)
        if a is None or b is None:
            return super().__lt__(other)
        return a < b


def _item(text: str, key: object = None) -> _Item:
    it = _Item(text)
    it.setData(_SORT, key if key is not None else text.lower())
    it.setFlags(it.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
    return it


class WorklistPanel(QtWidgets.QWidget):
    """The worklist table and its background scorer."""

    open_requested = QtCore.Signal(str)
    study_scored = QtCore.Signal(str)  # path

    def __init__(self, controller: AIController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("worklist_panel")
        self.ai = controller
        self.folder: Path | None = None
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.heading = QtWidgets.QLabel("No worklist open (File > Open worklist…)")
        self.heading.setWordWrap(True)
        lay.addWidget(self.heading)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("worklist_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.table.setWordWrap(False)
        # Riskiest first (unscored rows carry -1 and sink to the bottom).
        self.table.horizontalHeader().setSortIndicator(
            COL_PANY, QtCore.Qt.SortOrder.DescendingOrder
        )
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(self._on_double_clicked)
        lay.addWidget(self.table, 1)
        self.footer = Footer(self)
        lay.addWidget(self.footer)
        self.runner = RequestRunner(self, max_threads=1)  # one study at a time
        self._queue: collections.deque[str] = collections.deque()
        self._running: str | None = None
        controller.model_changed.connect(self._on_model_changed)
        self._model_sha: str | None = None

    # -- content ---------------------------------------------------------------------------

    def set_folder(self, folder: str | Path) -> int:
        """List the studies of ``folder`` and queue them all; returns how many."""
        self.stop()
        self.folder = Path(folder)
        studies = discover_studies(self.folder)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        for p in studies:
            self._add_row(str(p), p.name)
            self._set_status(str(p), "queued")
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self.heading.setText(f"{self.folder}: {len(studies)} studies")
        self._queue.extend(str(p) for p in studies)
        self._start_next()
        return len(studies)

    def add_received(self, path: str, report: dict[str, Any] | None = None) -> None:
        """A study that arrived (File > Listen for studies): a queued row, filled (one row
        per series) from its triage ``report`` (ai-report.json) once scored, never rescored
        here. Received rows are kept when a worklist folder is not open."""
        self.table.setSortingEnabled(False)
        name = f"received …{Path(path).name[-14:]}"
        if not any(self.table.item(r, 0).data(_PATH) == path for r in range(self.table.rowCount())):
            self._add_row(path, name)
            self._set_status(path, "queued", "receiving")
        for k, st in enumerate((report or {}).get("studies", [])):
            key = path if k == 0 else f"{path}#{st['series_instance_uid']}"
            if key not in self.paths():
                self._add_row(key, f"{name} · {st.get('description', '')}")
            peak = (st.get("max") or {}).get("any")
            self._fill_row(
                key,
                StudyScore(
                    path=path,
                    description=str(st.get("description", "")),
                    n_slices=int(st.get("n_slices", len(st.get("slices", [])))),
                    max_any=float(peak or 0.0),
                    n_flagged=len(st.get("flagged", [])),
                    study_instance_uid=str(st.get("study_instance_uid", "")),
                    study_flagged=bool(st.get("study_flagged")),
                    in_scope=bool(st.get("in_scope", True)),
                    scope_reason=str(st.get("scope_reason") or ""),
                ),
            )
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        if self.folder is None:
            self.heading.setText(f"Received studies: {self.table.rowCount()} series")
        if report is not None:
            self.study_scored.emit(path)

    def rescore(self) -> None:
        """Queue every study again (another model)."""
        if self.folder is None:
            return
        self.stop()
        for r in reversed(range(self.table.rowCount())):
            if "#" in self.table.item(r, 0).data(_PATH):
                self.table.removeRow(r)  # a study's other series: back with the new scores
        for r in range(self.table.rowCount()):
            path = self.table.item(r, 0).data(_PATH)
            self._set_status(path, "queued")
            self._queue.append(path)
        self._start_next()

    def row_of(self, path: str) -> int:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(_PATH) == path:
                return r
        raise KeyError(path)

    def status_of(self, path: str) -> str:
        return STATUSES[int(self.table.item(self.row_of(path), COL_STATUS).data(_SORT))]

    def paths(self) -> list[str]:
        """Study paths in the table's current (sorted) order."""
        return [self.table.item(r, 0).data(_PATH) for r in range(self.table.rowCount())]

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    # -- scoring ---------------------------------------------------------------------------

    def _start_next(self) -> None:
        if self._running is not None or not self._queue:
            return
        if self.ai.predictor is None:
            if self.ai.state in ("missing", "error", "off"):
                for path in self._queue:
                    self._set_status(path, "error", self.ai.message or "no AI model")
                self._queue.clear()
            else:
                self.ai.ensure_model()  # _on_model_changed starts us once it is loaded
            return
        path = self._queue.popleft()
        self._running = path
        self._set_status(path, "scoring")
        self.runner.submit(
            "study",
            series_scores_job,
            path,
            self.ai.predictor,
            on_progress=self._on_progress,
            on_returned=self._on_returned,
            on_errored=self._on_errored,
            on_cancelled=self._on_done,
        )

    def _on_progress(self, p: tuple[int, int]) -> None:
        if self._running:
            self._set_status(self._running, "scoring", f"{p[0]}/{p[1]}")

    def _on_returned(self, scores: list[tuple[str, StudyScore]]) -> None:
        """One row per series: the study's row takes its first series, the others get rows
        of their own (keyed 'path#series UID'), all sorted by risk with the rest."""
        path = scores[0][1].path
        self.table.setSortingEnabled(False)
        for k, (uid, s) in enumerate(scores):
            key = path if k == 0 else f"{path}#{uid}"
            if k:
                self._add_row(key, f"{Path(path).name} · {s.description}")
            self._fill_row(key, s)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self._on_done()
        self.study_scored.emit(path)

    def _add_row(self, key: str, name_text: str) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        name = _item(name_text)
        name.setData(_PATH, key)
        name.setToolTip(key.split("#")[0])
        self.table.setItem(r, 0, name)
        for col in range(1, len(COLUMNS)):
            numeric = col in (COL_PANY, COL_FLAGGED, COL_SLICES)
            self.table.setItem(r, col, _item("", -1.0 if numeric else ""))

    def _fill_row(self, key: str, s: StudyScore) -> None:
        r = self.row_of(key)
        self.table.item(r, COL_SERIES).setText(s.description)
        self.table.item(r, COL_SERIES).setData(_SORT, s.description.lower())
        # Out of scope: the numbers mean nothing, so the row sorts below every scored study.
        risk = s.max_any if s.in_scope else -0.5
        call = ("yes, " if s.study_flagged else "no, ") + f"{s.n_flagged} slices"
        for col, text, sort_key in (
            (COL_SLICES, str(s.n_slices), float(s.n_slices)),
            (COL_PANY, fmt_p(s.max_any) if s.in_scope else "–", risk),
            (COL_FLAGGED, call if s.in_scope else "–", float(s.study_flagged) + risk),
        ):
            self.table.item(r, col).setText(text)
            self.table.item(r, col).setData(_SORT, sort_key)
        colour = QtGui.QColor(FLAG_COLOUR) if s.study_flagged else self.palette().text().color()
        for col in (COL_PANY, COL_FLAGGED):
            self.table.item(r, col).setForeground(QtGui.QBrush(colour))
        if s.in_scope:
            self._set_status(key, "done", s.scope_reason)
        else:
            self._set_status(key, "out of scope", s.scope_reason)

    def _on_errored(self, err: JobError) -> None:
        if self._running is None:
            return
        self._set_status(self._running, "error", err.message)
        self._on_done()

    def _on_done(self) -> None:
        self._running = None
        self._start_next()

    def _on_model_changed(self) -> None:
        sha = self.ai.info.sha256 if self.ai.info is not None else None
        if self.ai.info is not None:
            self.footer.set_model_text(self.ai.info.footer())
        if sha is not None and self._model_sha is not None and sha != self._model_sha:
            self._model_sha = sha
            self.rescore()
            return
        self._model_sha = sha or self._model_sha
        self._start_next()

    def _set_status(self, path: str, status: str, detail: str = "") -> None:
        item = self.table.item(self.row_of(path), COL_STATUS)
        warn = status == "done" and bool(detail)  # e.g. contrast: scored, with a warning
        item.setText(
            f"{status} {detail}".strip()
            if status == "scoring"
            else (status + " (warning)" if warn else status)
        )
        item.setData(_SORT, STATUSES.index(status))
        item.setToolTip(detail if status in ("error", "out of scope") or warn else "")

    def stop(self) -> None:
        """Cancel the study being scored and empty the queue."""
        self._queue.clear()
        self.runner.cancel("study")
        if self._running is not None:
            self._set_status(self._running, "queued")
        self._running = None

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self.stop()
        self.runner.shutdown(timeout_ms)

    def _on_double_clicked(self, row: int, _col: int) -> None:
        self.open_requested.emit(self.table.item(row, 0).data(_PATH).split("#")[0])

    def items(self) -> list[list[str]]:
        """The rows as shown, top to bottom (name, P(any), flagged, status, slices, series)."""
        return [
            [self.table.item(r, c).text() for c in range(len(COLUMNS))]
            for r in range(self.table.rowCount())
        ]
