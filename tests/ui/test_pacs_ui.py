"""The window's PACS: File > Listen for studies fills the worklist as studies arrive and are
scored; File > Query/Retrieve finds and opens a study on a real PACS (Orthanc); File >
Export AI result as DICOM writes SR / KOS referencing the flagged slices and sends them;
Settings > PACS nodes round-trips. The PACS tests skip where Orthanc is not installed."""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
import pytest
from PySide6 import QtCore, QtWidgets

from ichviewer.net.nodes import PacsNode
from ichviewer.ui.settings import load_settings, save_settings
from ichviewer.ui.worklist import COL_PANY, COL_STATUS
from tests.net.conftest import ORTHANC_AET, OUR_AET, free_port, orthanc
from tests.net.helpers import demo_files, sr_image_references, storescu

#: The real PACS fixture of the network tests, requested by name.
FIXTURES = (orthanc,)

#: The demo's patient name and ID (its series description says PHANTOM too: not patient data).
DEMO_PATIENT = ("PHANTOM^0000", "PHANTOM 0000", "PHANTOM-2043")
SCORE_TIMEOUT_MS = 240_000  # scoring the demo takes seconds; the CI box may be busy


def _demo_uid() -> str:
    return str(pydicom.dcmread(demo_files()[0], stop_before_pixels=True).StudyInstanceUID)


def _listen(qtbot, win, port: int, aet: str, store: Path, settle: float = 1.0) -> None:  # noqa: ANN001
    """Start File > Listen for studies as a user does: the toggle, then the dialog."""
    win.actions_.all["listen"].trigger()
    dlg = win.pacs.dialog
    assert dlg is not None
    dlg.port.setValue(port)
    dlg.aet.setText(aet)
    dlg.store.setText(str(store))
    dlg.settle.setValue(settle)
    assert dlg.score.isChecked()
    dlg.accept()
    qtbot.waitUntil(lambda: win.pacs.listening, timeout=10_000)


def _scored_rows(win) -> list[list[str]]:  # noqa: ANN001
    return [r for r in win.worklist_panel.items() if r[COL_STATUS].startswith("done")]


@pytest.mark.slow
def test_listening_fills_the_worklist_as_studies_are_scored(
    qtbot, make_window, tmp_path, site_file, caplog
):
    site_file({"pacs": {"allow_aets": ["STORESCU"]}})
    win = make_window(persist=False)
    port, store = free_port(), tmp_path / "received"
    _listen(qtbot, win, port, "ICHVRX", store)
    assert win.actions_.all["listen"].isChecked()
    assert win.pacs.listen_label.text() == f"Listening on ICHVRX@{port}"
    # A calling AE title the site does not allow is refused (and only logged).
    refused = storescu(port, demo_files()[0], aet="INTRUDER", aec="ICHVRX")
    assert refused.returncode != 0 or "reject" in (refused.stdout + refused.stderr).lower()
    assert not list(store.rglob("*.dcm"))
    pushed = storescu(port, demo_files()[0].parent, aec="ICHVRX")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    qtbot.waitUntil(win.worklist_dock.isVisible, timeout=30_000)  # the first image came
    qtbot.waitUntil(lambda: bool(_scored_rows(win)), timeout=SCORE_TIMEOUT_MS)
    (row,) = win.worklist_panel.items()
    assert row[COL_PANY] not in ("", "–") and row[2].startswith("yes")
    study = store / _demo_uid()
    assert win.worklist_panel.paths() == [str(study)]
    assert (study / "ai-report.json").is_file()
    assert "Received studies" in win.worklist_panel.heading.text()
    # Double-click opens the received study in the window.
    win.worklist_panel.open_requested.emit(str(study))
    qtbot.waitUntil(lambda: win.reader is not None and win.n_slices == 29, timeout=30_000)
    win.actions_.all["listen"].trigger()  # toggle off: stops
    assert not win.pacs.listening and not win.pacs.listen_label.isVisible()
    assert not any(secret in caplog.text for secret in DEMO_PATIENT)


@pytest.mark.slow
def test_query_and_retrieve_opens_the_study(qtbot, make_window, orthanc, caplog):
    caplog.set_level(logging.INFO)
    orthanc.clear()
    pushed = storescu(orthanc.node.port, demo_files()[0].parent, aec=ORTHANC_AET)
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    win = make_window(persist=False)
    win.settings.pacs_nodes = [orthanc.node.to_dict()]
    win.actions_.all["query"].trigger()
    dlg = win.pacs.query_dialog
    assert dlg is not None and dlg.isVisible()
    assert dlg.current_node() == orthanc.node
    dlg.aet.setText(OUR_AET)  # the AE title Orthanc knows
    dlg.patient_id.setText("PHANTOM-2043-*")
    dlg.date_from.setText("1900-01-01")
    dlg.modality.setText("CT")
    qtbot.mouseClick(dlg.find_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 1, timeout=30_000)
    assert dlg.table.item(0, 0).text() == "PHANTOM 0000"  # shown to the reader ...
    assert dlg.status.text() == "1 study found"
    assert dlg.retrieve_button.isEnabled()
    qtbot.mouseClick(dlg.retrieve_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.reader is not None and win.n_slices == 29, timeout=60_000)
    assert win.reader.series.study_instance_uid == _demo_uid()
    assert "Retrieved into" in dlg.status.text()
    from ichviewer import paths

    assert (paths.data_dir() / "retrieved" / _demo_uid()).is_dir()
    assert not any(secret in caplog.text for secret in DEMO_PATIENT)  # ... never logged
    dlg.reject()
    qtbot.waitUntil(lambda: win.pacs.query_dialog is None)


@pytest.mark.slow
def test_query_retrieve_by_move_goes_through_the_listener(qtbot, make_window, orthanc, tmp_path):
    orthanc.clear()
    assert storescu(orthanc.node.port, demo_files()[0].parent, aec=ORTHANC_AET).returncode == 0
    win = make_window(persist=False)
    node = PacsNode(orthanc.node.aet, "127.0.0.1", orthanc.node.port, "orthanc-move", "move")
    win.settings.pacs_nodes = [node.to_dict()]
    dlg = win.pacs.open_query()
    dlg.aet.setText(OUR_AET)
    qtbot.mouseClick(dlg.find_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 1, timeout=30_000)
    qtbot.mouseClick(dlg.retrieve_button, QtCore.Qt.MouseButton.LeftButton)
    assert "start File > Listen" in dlg.status.text()  # no listener yet
    _listen(qtbot, win, orthanc.our_port, OUR_AET, tmp_path / "rx")
    qtbot.mouseClick(dlg.retrieve_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.reader is not None and win.n_slices == 29, timeout=60_000)
    assert Path(win.reader.series.slices[0].source).is_relative_to(tmp_path / "rx")
    qtbot.waitUntil(lambda: bool(_scored_rows(win)), timeout=SCORE_TIMEOUT_MS)  # and it is scored
    dlg.reject()


@pytest.mark.slow
def test_export_ai_result_as_dicom_and_send_it(qtbot, make_window, orthanc, tmp_path):
    orthanc.clear()
    win = make_window(persist=False)
    win.settings.pacs_nodes = [orthanc.node.to_dict()]
    assert not win.pacs.export_dicom(tmp_path / "early")  # nothing open yet: refused
    assert win.open_demo()
    qtbot.waitUntil(lambda: win.ai.scoring_done, timeout=SCORE_TIMEOUT_MS)
    study_folder = Path(win.reader.series.slices[0].source).parent
    assert not win.pacs.export_dicom(study_folder)  # never into the study
    assert "study's folder" in win.statusBar().currentMessage()
    flagged = {win.reader.series.slices[f.index].sop_instance_uid for f in win.flagged}
    assert flagged
    out = tmp_path / "dicom-out"
    with qtbot.waitSignal(win.pacs.exported, timeout=SCORE_TIMEOUT_MS) as sig:
        assert win.pacs.export_dicom(out, win.pacs.nodes()[0])
    done = sig.args[0]
    assert done.sent_to == str(orthanc.node)
    kinds = {}
    for p in done.files:
        assert p.is_relative_to(out)
        ds = pydicom.dcmread(p)
        kinds.setdefault(ds.Modality, []).append(ds)
    (sr,) = kinds["SR"]
    kos = [ds for ds in kinds["KO"]] if "KO" in kinds else []
    assert len(kos) == 1
    assert set(sr_image_references(sr)) == flagged
    assert set(sr_image_references(kos[0])) == flagged
    assert len(orthanc.rest("/instances")) == len(done.files)  # sent with C-STORE
    assert "DICOM files, sent to" in win.statusBar().currentMessage()


def test_pacs_nodes_settings_round_trip(qtbot, make_window, tmp_path, site_file):
    site_file(
        {"pacs": {"nodes": [{"name": "main", "aet": "PACS1", "host": "pacs.example", "port": 104}]}}
    )
    settings_file = tmp_path / "ichviewer.ini"
    win = make_window(persist=True, settings_file=settings_file, model_path=False)
    win.windows.open_settings()
    dlg = win.windows.dialog
    page = dlg.pacs
    assert page is not None and page.list.rowCount() == 1
    assert page.list.item(0, 5).text() == "site"
    page.list.selectRow(0)
    assert not page.delete_button.isEnabled()  # site nodes are read-only
    assert not page.save_entry()  # the site's name cannot be taken
    page.name.setText("mine")
    page.aet.setText("BAD\\AET")
    assert not page.save_entry() and "AE title" in page.error.text()
    page.aet.setText("ORTH")
    page.host.setText("127.0.0.1")
    page.port.setValue(4242)
    page.retrieve.setCurrentText("move")
    assert page.save_entry()
    assert page.list.rowCount() == 2
    dlg.accept()
    qtbot.waitUntil(lambda: win.windows.dialog is None)
    want = {"name": "mine", "aet": "ORTH", "host": "127.0.0.1", "port": 4242, "retrieve": "move"}
    assert win.settings.pacs_nodes == [want]
    assert [n.name for n in win.pacs.nodes()] == ["main", "mine"]
    assert save_settings(win.settings, settings_file)
    loaded, warnings = load_settings(settings_file)
    assert loaded.pacs_nodes == [want] and not warnings
    # A hand-edited bad node falls back to the default, with a warning.
    qs = QtCore.QSettings(str(settings_file), QtCore.QSettings.Format.IniFormat)
    qs.setValue("pacs_nodes", '[{"aet": "X", "host": "h", "port": 0}]')
    qs.sync()
    loaded, warnings = load_settings(settings_file)
    assert loaded.pacs_nodes == [] and any("pacs_nodes" in w for w in warnings)


def test_listen_dialog_refuses_a_study_folder(qtbot, make_window):
    win = make_window(persist=False, model_path=False)
    win.actions_.all["listen"].trigger()
    dlg = win.pacs.dialog
    dlg.store.setText(str(demo_files()[0].parent))
    dlg.accept()
    assert dlg.isVisible() and "holds DICOM files" in dlg.error.text()
    dlg.reject()
    qtbot.waitUntil(lambda: win.pacs.dialog is None)
    assert not win.pacs.listening and not win.actions_.all["listen"].isChecked()
    assert isinstance(win.pacs.listen_label, QtWidgets.QLabel)
