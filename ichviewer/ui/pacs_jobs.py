"""The PACS part's background work and the receiver's bridge to Qt: the jobs run in the
request runner (plain data in, dataclasses out) and the :class:`ichviewer.net.Receiver`
callbacks, which come on worker threads, are re-emitted as signals (queued to the window's
thread). Nothing here logs a patient name or ID.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from ichviewer import paths
from ichviewer.errors import IchViewerError
from ichviewer.net.filing import safe_name
from ichviewer.net.nodes import PacsNode

logger = logging.getLogger("ichviewer.ui")


def received_dir() -> Path:
    return paths.data_dir() / "received"


def retrieved_dir() -> Path:
    return paths.data_dir() / "retrieved"


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("report %s of a received study unreadable: %s", Path(path).name, exc)
        return None
    return data if isinstance(data, dict) else None


class ReceiverBridge(QtCore.QObject):
    """A :class:`ichviewer.net.Receiver` whose callbacks arrive as (queued) signals."""

    instance_stored = QtCore.Signal(str)  # study folder
    study_scored = QtCore.Signal(str, object)  # study folder, report dict (None: unreadable)
    study_failed = QtCore.Signal(str, str)  # study folder, why

    def __init__(self, parent: QtCore.QObject | None = None, **kwargs: Any) -> None:
        super().__init__(parent)
        from ichviewer.net.receiver import Receiver

        self.receiver = Receiver(
            on_instance_stored=lambda d, _f: self.instance_stored.emit(str(d)),
            on_study_scored=lambda d, r: self.study_scored.emit(str(d), _read_report(r)),
            on_study_failed=lambda d, why: self.study_failed.emit(str(d), why),
            **kwargs,
        )
        self.aet: str = kwargs.get("aet", "")

    def start(self) -> None:
        self.receiver.start()

    def stop(self) -> None:
        self.receiver.stop()

    @property
    def port(self) -> int:
        return self.receiver.port

    @property
    def store_dir(self) -> Path:
        return self.receiver.store_dir


@dataclass
class Exported:
    files: list[Path] = field(default_factory=list)
    sent_to: str = ""


def find_job(node: PacsNode, query: dict, aet: str, _report: Any, _cancel: Any) -> list:
    from ichviewer.net.query import find_studies

    return find_studies(node, calling_aet=aet, **{k: v or None for k, v in query.items()})


def retrieve_job(
    node: PacsNode, uid: str, dest: Path, aet: str, move_to: str, report: Any, _cancel: Any
) -> Path:
    """C-GET into ``dest``, or C-MOVE to our listener (``move_to``: its AE title); the
    study folder to open."""
    from ichviewer.net.query import get_study, move_study

    if node.retrieve == "move":
        move_study(node, uid, move_to, calling_aet=aet)
        return dest / safe_name(uid)
    result = get_study(node, uid, dest, calling_aet=aet, on_progress=lambda d, n: report((d, n)))
    if result.study_dir is None or not (result.files or result.duplicates):
        raise IchViewerError(f"C-GET from {node}: no image of the study came")
    return result.study_dir


def export_job(
    series: Any,
    predictor: Any,
    model_path: Path,
    out_dir: Path,
    node: PacsNode | None,
    aet: str,
    _report: Any,
    cancel: threading.Event,
) -> Exported:
    """The open series' triage report (engine + ai.triage, through the result cache), as
    SR, KOS and captures in ``out_dir``; sent to ``node`` when given."""
    from ichviewer.ai import triage
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.engine import score_series
    from ichviewer.net.query import send_files
    from ichviewer.net.results import write_dicom_results

    t0 = time.perf_counter()
    score = score_series(predictor, series, cache=ResultCache(predictor.sha256), cancel=cancel)
    study = triage.series_report(score, predictor)
    report = triage.triage_report([study], [], predictor, model_path, time.perf_counter() - t0)
    sources = sorted({ref.source for ref in series.slices})
    written = write_dicom_results(report, sources, out_dir, predictor=predictor)
    out = Exported([p for r in written for p in r.files])
    if node is not None and out.files:
        send_files(node, out.files, calling_aet=aet)
        out.sent_to = str(node)
    return out
