"""Round trips with a real PACS (Orthanc, see conftest.py): query, retrieve, Orthanc sending
to our SCP, our SR/KOS/SC stored in Orthanc and read back, and Orthanc refusing us."""

from __future__ import annotations

import json

import pydicom
import pytest

from ichviewer.net.cli import main as net_main
from ichviewer.net.nodes import PacsNode, PeerError
from ichviewer.net.query import find_studies, get_study, move_study, send_files
from ichviewer.net.receiver import Receiver
from ichviewer.net.results import write_dicom_results
from tests.net.conftest import OUR_AET
from tests.net.helpers import demo_files, fake_report, filed, sop_uids

DEMO = pydicom.dcmread(demo_files()[0], stop_before_pixels=True)
STUDY = str(DEMO.StudyInstanceUID)


@pytest.fixture
def pacs_with_demo(orthanc):
    orthanc.clear()
    sent = send_files(orthanc.node, demo_files(), calling_aet=OUR_AET)
    assert len(sent) == 29
    return orthanc


@pytest.fixture
def our_scp(orthanc, tmp_path):
    """Our receiver at the AE title and port Orthanc knows as 'ichv'."""
    rx = Receiver(
        tmp_path / "incoming",
        orthanc.our_port,
        OUR_AET,
        host="127.0.0.1",
        settle_s=0.5,
        allow_aets=[orthanc.node.aet],
    )
    rx.start()
    yield rx
    rx.stop()


class TestQueryRetrieve:
    def test_find_by_patient_date_and_modality(self, pacs_with_demo):
        node = pacs_with_demo.node
        (m,) = find_studies(node, patient_id=DEMO.PatientID, modality="CT", calling_aet=OUR_AET)
        assert m.study_instance_uid == STUDY and m.n_instances == 29
        assert m.modalities == ("CT",) and m.study_date == DEMO.StudyDate
        assert (
            len(find_studies(node, date_from="2021-10-01", date_to="20211031", calling_aet=OUR_AET))
            == 1
        )
        assert find_studies(node, date_from="20220101", calling_aet=OUR_AET) == []
        assert find_studies(node, modality="MR", calling_aet=OUR_AET) == []
        assert find_studies(node, patient_id="NOBODY*", calling_aet=OUR_AET) == []

    def test_c_get_brings_the_whole_study_and_never_overwrites(self, pacs_with_demo, tmp_path):
        res = get_study(pacs_with_demo.node, STUDY, tmp_path, calling_aet=OUR_AET)
        assert (res.completed, res.failed, len(res.files)) == (29, 0, 29)
        assert res.study_dir == tmp_path / STUDY
        assert sop_uids(filed(tmp_path)) == sop_uids(demo_files())
        before = {p: p.stat().st_mtime_ns for p in filed(tmp_path)}
        again = get_study(pacs_with_demo.node, STUDY, tmp_path, calling_aet=OUR_AET)
        assert again.files == [] and again.duplicates == 29
        assert {p: p.stat().st_mtime_ns for p in filed(tmp_path)} == before

    def test_c_move_to_our_scp(self, pacs_with_demo, our_scp):
        res = move_study(pacs_with_demo.node, STUDY, OUR_AET, calling_aet=OUR_AET)
        assert (res.completed, res.failed) == (29, 0)
        assert our_scp.wait_idle(timeout=20)
        assert sop_uids(filed(our_scp.store_dir)) == sop_uids(demo_files())

    def test_orthanc_pushes_a_study_to_us(self, pacs_with_demo, our_scp):
        (study_id,) = pacs_with_demo.rest("/studies")
        pacs_with_demo.rest("/modalities/ichv/store", method="POST", body=[study_id])
        assert our_scp.wait_idle(timeout=30)
        assert len(filed(our_scp.store_dir)) == 29
        assert [p.name for p in our_scp.scp.store.studies()] == [STUDY]

    def test_cli_find_and_get(self, pacs_with_demo, tmp_path, capsys):
        n = pacs_with_demo.node
        where = ["--host", n.host, "--port", str(n.port), "--aec", n.aet, "--aet", OUR_AET]
        assert net_main(["pacs", "find", *where, "--modality", "CT", "--json"]) == 0
        found = json.loads(capsys.readouterr().out)
        assert [s["study_instance_uid"] for s in found["studies"]] == [STUDY]
        assert "patient_id" not in found["studies"][0]  # only with --show-patient
        assert net_main(["pacs", "get", *where, STUDY, "--out", str(tmp_path)]) == 0
        assert len(filed(tmp_path)) == 29


class TestOrthancRefuses:
    def test_move_to_an_unknown_destination_says_so(self, pacs_with_demo):
        with pytest.raises(PeerError) as err:
            move_study(pacs_with_demo.node, STUDY, "NOSUCHAE", calling_aet=OUR_AET)
        msg = str(err.value)
        assert msg.startswith(f"C-MOVE to NOSUCHAE from {pacs_with_demo.node}: status 0x")
        assert "does the PACS know the destination NOSUCHAE" in msg

    def test_an_unknown_calling_ae_cannot_query(self, pacs_with_demo):
        with pytest.raises(PeerError) as err:
            find_studies(pacs_with_demo.node, calling_aet="STRANGER")
        assert str(pacs_with_demo.node) in str(err.value)

    def test_a_wrong_port_names_the_peer(self, orthanc):
        from tests.net.conftest import free_port

        port = free_port()
        with pytest.raises(
            PeerError, match=f"cannot connect to {orthanc.node.aet}@127.0.0.1:{port}"
        ):
            find_studies(PacsNode(orthanc.node.aet, "127.0.0.1", port), calling_aet=OUR_AET)


class TestResultsInOrthanc:
    def test_sr_kos_and_captures_are_stored_and_reference_the_flagged_slices(
        self, pacs_with_demo, tmp_path
    ):
        src = demo_files()[0].parent
        report = fake_report([src])
        flagged = report["studies"][0]["flagged"]
        (res,) = write_dicom_results(report, [src], tmp_path)
        sent = send_files(pacs_with_demo.node, res.files, calling_aet=OUR_AET)
        assert len(sent) == 4  # SR, KOS, two captures
        o = pacs_with_demo
        (study,) = o.rest("/studies")
        info = o.rest(f"/studies/{study}")
        assert len(info["Series"]) == 4  # the CT and our three, all in the one study
        series = [o.rest(f"/series/{s}") for s in info["Series"]]
        by_modality = {s["MainDicomTags"]["Modality"]: s for s in series}
        assert set(by_modality) == {"CT", "SR", "KO", "OT"}
        assert len(by_modality["OT"]["Instances"]) == 2
        (sr_id,) = by_modality["SR"]["Instances"]
        sr = o.rest(f"/instances/{sr_id}/tags?simplify")
        refs = []

        def walk(items):
            for it in items or []:
                if it.get("ValueType") == "IMAGE":
                    refs.extend(r["ReferencedSOPInstanceUID"] for r in it["ReferencedSOPSequence"])
                walk(it.get("ContentSequence"))

        walk(sr["ContentSequence"])
        assert refs == flagged
        assert sr["PatientID"] == DEMO.PatientID and sr["Manufacturer"] == "ICH Viewer"
        # And back through DICOM: C-GET the study, our objects included, unchanged.
        got = get_study(o.node, STUDY, tmp_path / "back", calling_aet=OUR_AET)
        assert got.completed == 33
        assert sop_uids(filed(tmp_path / "back")) >= sop_uids(res.files)
