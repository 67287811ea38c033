"""The reading room's PACS in the window: File > Listen for studies (a storage SCP that files
and scores what arrives; each scored study joins the worklist from its ai-report.json),
File > Query/Retrieve (C-FIND, then C-GET, or C-MOVE to our listener, and open) and File >
Export AI result as DICOM (SR, KOS and secondary captures of the open series, optionally
sent to a node with C-STORE).

The network work is :mod:`ichviewer.net`'s; here it runs in the request runner, and the
receiver's callbacks (worker threads) come back as queued signals. Patient names and IDs
reach the query table only, never a log line or the status bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.errors import IchViewerError
from ichviewer.net.cli import quiet_pynetdicom, site_pacs
from ichviewer.net.nodes import PacsConfig, PacsNode
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.pacs_dialogs import ListenDialog, QueryDialog, looks_like_study
from ichviewer.ui.pacs_jobs import (
    Exported,
    ReceiverBridge,
    export_job,
    find_job,
    received_dir,
    retrieve_job,
    retrieved_dir,
)
from ichviewer.ui.parts.common import StatusBar
from ichviewer.ui.runner import RequestRunner
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import ViewerState
from ichviewer.ui.workers import JobError

logger = logging.getLogger("ichviewer.ui")


class PacsPart(QtCore.QObject):
    """Listening, query/retrieve and the DICOM export; ``open_paths`` opens a study."""

    study_received = QtCore.Signal(str, object)  # study folder, report (None: arriving)
    exported = QtCore.Signal(object)  # Exported

    def __init__(
        self,
        win: QtWidgets.QMainWindow,
        state: ViewerState,
        settings: ViewerSettings,
        ai: AIController,
        open_paths: Callable[[Sequence[str]], None],
    ) -> None:
        super().__init__(win)
        self.win, self.state, self.settings, self.ai = win, state, settings, ai
        # pynetdicom logs query identifiers (patient IDs) at INFO: only its CRITICAL lines.
        quiet_pynetdicom()
        self.open_paths = open_paths
        self.status = StatusBar(win)
        self.runner = RequestRunner(self, max_threads=2)
        self.bridge: ReceiverBridge | None = None
        self.listen_action: QtGui.QAction | None = None  # set by the window's actions
        self.dialog: QtWidgets.QDialog | None = None  # the listen dialog open now
        self.query_dialog: QueryDialog | None = None
        self._seen: set[str] = set()
        self.listen_label = QtWidgets.QLabel("")
        self.listen_label.setObjectName("listen_label")
        self.listen_label.hide()
        self.status.add(self.listen_label)

    # -- nodes -----------------------------------------------------------------------------

    def site(self) -> PacsConfig:
        return site_pacs()

    def nodes(self) -> list[PacsNode]:
        """The site file's nodes, then the user's (Settings > PACS nodes) of other names."""
        out = list(self.site().nodes)
        for d in self.settings.pacs_nodes:
            try:
                node = PacsNode.from_dict(d)
            except IchViewerError:
                continue
            if all(n.name != node.name for n in out):
                out.append(node)
        return out

    def our_aet(self) -> str:
        return self.bridge.aet if self.bridge is not None else self.site().aet

    # -- listening -------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        return self.bridge is not None

    def set_listening(self, on: bool) -> None:
        """File > Listen for studies: on asks where (a dialog), off stops."""
        if not on:
            self.stop_listening()
            return
        if self.listening:
            return
        site = self.site()
        dlg = ListenDialog(site.port, site.aet, received_dir(), self.win)
        self.dialog = dlg

        def finished(result: int) -> None:
            self.dialog = None
            started = False
            if result == QtWidgets.QDialog.DialogCode.Accepted:
                started = self.start_listening(**dlg.values())
            if not started:
                self._check(False)
            dlg.deleteLater()

        dlg.finished.connect(finished)
        dlg.open()

    def start_listening(
        self, port: int, aet: str, store: Path, score: bool = True, settle_s: float = 10.0
    ) -> bool:
        """Receive into ``store`` (the site file may restrict the calling AE titles)."""
        from ichviewer.net.nodes import PeerError

        self.stop_listening()
        bridge = ReceiverBridge(
            self,
            store_dir=store,
            port=port,
            aet=aet,
            allow_aets=self.site().allow_aets or None,
            score=score,
            settle_s=settle_s,
        )
        bridge.instance_stored.connect(self._on_instance_stored)
        bridge.study_scored.connect(self._on_study_scored)
        bridge.study_failed.connect(self._on_study_failed)
        try:
            bridge.start()
        except (PeerError, IchViewerError, OSError) as exc:
            self.status.say(f"Cannot listen on {aet}@{port}: {exc}", 2)
            bridge.deleteLater()
            return False
        self.bridge = bridge
        if score:
            self.ai.ensure_model()  # the worklist's footer names the model that scores
        self._check(True)
        self.listen_label.setText(f"Listening on {aet}@{bridge.port}")
        self.listen_label.show()
        self.status.say(self.listen_label.text())
        return True

    def stop_listening(self) -> None:
        if self.bridge is None:
            return
        bridge, self.bridge = self.bridge, None
        bridge.stop()
        bridge.deleteLater()
        self._check(False)
        self.listen_label.hide()
        self.status.say("Stopped listening for studies")

    def _check(self, on: bool) -> None:
        if self.listen_action is not None:
            with QtCore.QSignalBlocker(self.listen_action):
                self.listen_action.setChecked(on)

    def _on_instance_stored(self, study_dir: str) -> None:
        if study_dir not in self._seen:
            self._seen.add(study_dir)
            self.study_received.emit(study_dir, None)

    def _on_study_scored(self, study_dir: str, report: dict | None) -> None:
        self._seen.add(study_dir)
        self.study_received.emit(study_dir, report or {"studies": []})
        self.status.say("A received study was scored (in the worklist)")

    def _on_study_failed(self, study_dir: str, why: str) -> None:
        self.status.say(f"A received study could not be scored: {why}", 2)

    # -- query / retrieve ------------------------------------------------------------------

    def open_query(self) -> QueryDialog:
        """File > Query/Retrieve: the dialog (non-modal; the part runs its buttons)."""
        if self.query_dialog is None:
            dlg = QueryDialog(self.nodes(), self.our_aet(), self.win)
            dlg.find_button.clicked.connect(self.find)
            dlg.retrieve_button.clicked.connect(self.retrieve)
            dlg.table.cellDoubleClicked.connect(lambda *_: self.retrieve())
            dlg.finished.connect(self._on_query_closed)
            self.query_dialog = dlg
            if not dlg.nodes:
                dlg.status.setText("No PACS node: add one in File > Settings > PACS nodes")
        self.query_dialog.show()
        self.query_dialog.activateWindow()
        return self.query_dialog

    def _on_query_closed(self, _result: int) -> None:
        self.runner.cancel("find")
        if self.query_dialog is not None:
            self.query_dialog.deleteLater()
        self.query_dialog = None

    def find(self) -> None:
        dlg = self.query_dialog
        node = None if dlg is None else dlg.current_node()
        if dlg is None or node is None:
            return
        dlg.status.setText(f"Searching {node}…")
        dlg.find_button.setEnabled(False)

        def done(matches: list) -> None:
            dlg.find_button.setEnabled(True)
            dlg.show_matches(matches)

        self.runner.submit(
            "find",
            find_job,
            node,
            dlg.query(),
            dlg.aet.text().strip() or self.our_aet(),
            on_returned=done,
            on_errored=lambda err: self._query_error(err, dlg.find_button),
        )

    def retrieve(self) -> None:
        dlg = self.query_dialog
        match = None if dlg is None else dlg.selected()
        node = None if dlg is None else dlg.current_node()
        if match is None or node is None:
            return
        move_to = ""
        if node.retrieve == "move":
            if self.bridge is None:
                dlg.status.setText(
                    f"{node.name} sends with C-MOVE: start File > Listen for studies first"
                )
                return
            move_to = self.bridge.aet
        dest = self.bridge.store_dir if move_to else retrieved_dir()
        dlg.status.setText(f"Retrieving from {node}…")
        dlg.retrieve_button.setEnabled(False)

        def done(study_dir: Path) -> None:
            dlg.retrieve_button.setEnabled(True)
            dlg.status.setText(f"Retrieved into {study_dir}")
            self.open_paths([str(study_dir)])

        self.runner.submit(
            "retrieve",
            retrieve_job,
            node,
            match.study_instance_uid,
            dest,
            dlg.aet.text().strip() or self.our_aet(),
            move_to,
            on_progress=lambda p: dlg.status.setText(f"Retrieving from {node}: {p[0]} images"),
            on_returned=done,
            on_errored=lambda err: self._query_error(err, dlg.retrieve_button),
        )

    def _query_error(self, err: JobError, button: QtWidgets.QPushButton) -> None:
        button.setEnabled(True)
        if self.query_dialog is not None:
            self.query_dialog.status.setText(err.message)

    # -- export as DICOM -------------------------------------------------------------------

    def choose_export_dicom(self) -> None:
        """File > Export AI result as DICOM: a folder, then (when nodes exist) where to send."""
        d = QtWidgets.QFileDialog.getExistingDirectory(
            self.win, "Write the AI result as DICOM (SR, KOS, captures) into"
        )
        if not d:
            return
        node = None
        nodes = self.nodes()
        if nodes:
            names = ["Do not send", *(f"{n.name} ({n})" for n in nodes)]
            name, ok = QtWidgets.QInputDialog.getItem(
                self.win, "Send the result", "Also send it to", names, 0, False
            )
            if not ok:
                return
            node = nodes[names.index(name) - 1] if names.index(name) else None
        self.export_dicom(d, node)

    def export_dicom(self, out_dir: str | Path, node: PacsNode | None = None) -> bool:
        """Write SR, KOS and captures of the open, scored series into ``out_dir`` (never the
        study's own folder) in the background; False (and a message) when it cannot."""
        reader, predictor = self.state.reader, self.ai.predictor
        if reader is None or predictor is None or not self.ai.scoring_done:
            self.status.say("Export as DICOM: open a study and let the AI score it first")
            return False
        out = Path(out_dir).resolve()
        folders = {Path(ref.source).resolve().parent for ref in reader.series.slices}
        if any(out == f or f in out.parents for f in folders) or looks_like_study(out):
            self.status.say(f"Export as DICOM: {out} is the study's folder; choose another", 2)
            return False
        self.status.say("Writing the AI result as DICOM…")
        self.runner.submit(
            "export",
            export_job,
            reader.series,
            predictor,
            self.ai.model.path,
            out,
            node,
            self.our_aet(),
            on_returned=self._on_exported,
            on_errored=lambda err: self.status.say(f"Export as DICOM failed: {err.message}", 2),
        )
        return True

    def _on_exported(self, done: Exported) -> None:
        sent = f", sent to {done.sent_to}" if done.sent_to else ""
        self.status.say(f"AI result written as {len(done.files)} DICOM files{sent}", 2)
        self.exported.emit(done)

    def shutdown(self) -> None:
        self.stop_listening()
        self.runner.shutdown(5000)
