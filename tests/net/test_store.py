"""Our storage SCP against a standard sender and against bad peers (no PACS needed)."""

from __future__ import annotations

import logging
import struct
import threading
import time

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, RTPlanStorage

from ichviewer.net.nodes import PacsNode, PeerError
from ichviewer.net.query import echo, send_files
from ichviewer.net.receiver import Receiver
from ichviewer.net.store import DATASET_DOES_NOT_MATCH, StorageSCP
from tests.dicom_factory import ct_dataset
from tests.net.helpers import (
    PATIENT_SECRETS,
    demo_files,
    filed,
    sop_uids,
    storescu,
    stray_temp_files,
)


def _no_patient_data(text: str) -> None:
    for secret in PATIENT_SECRETS:
        assert secret not in text


@pytest.fixture
def scp(tmp_path):
    server = StorageSCP(tmp_path / "store", 0, "ICHVTEST", host="127.0.0.1")
    server.start()
    yield server
    server.stop()


def _assoc(port: int, aet: str = "TESTSCU", contexts=(CTImageStorage,)):
    ae = AE(ae_title=aet)
    for c in contexts:
        ae.add_requested_context(c)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae.associate("127.0.0.1", port, ae_title="ICHVTEST")


def _ct(study="1.2.3.4", series="1.2.3.4.5", value=40.0):
    return ct_dataset(np.full((16, 16), value, np.float32), study_uid=study, series_uid=series)


class TestReceiveFromStorescu:
    def test_a_pushed_study_is_filed_as_received_and_settles_once(self, tmp_path, caplog):
        settled = []
        rx = Receiver(
            tmp_path / "store",
            0,
            "ICHVTEST",
            host="127.0.0.1",
            settle_s=0.5,
            on_study_settled=settled.append,
        )
        rx.start()
        try:
            with caplog.at_level(logging.INFO, logger="ichviewer"):
                done = storescu(rx.port, demo_files()[0].parent, aec="ICHVTEST")
                assert done.returncode == 0, done.stderr[-2000:]
                assert rx.wait_idle(timeout=20)
        finally:
            rx.stop()
        src = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in demo_files()}
        got = filed(tmp_path / "store")
        assert len(got) == len(src) == 29
        study = pydicom.dcmread(got[0]).StudyInstanceUID
        assert settled == [tmp_path / "store" / study]
        for p in got:  # DIR/<study>/<series>/<sop>.dcm, the dataset byte for byte
            ds = pydicom.dcmread(p)
            assert p.relative_to(tmp_path / "store").parts == (
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                f"{ds.SOPInstanceUID}.dcm",
            )
            orig = pydicom.dcmread(src[str(ds.SOPInstanceUID)])
            assert ds.PixelData == orig.PixelData
            assert ds.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
            assert {e.tag: e.value for e in ds} == {e.tag: e.value for e in orig}
        assert not stray_temp_files(tmp_path)
        _no_patient_data(caplog.text + str(tmp_path.glob("**/*")))
        assert "PHANTOM" not in caplog.text  # the demo's patient name

    def test_echo_answers(self, scp):
        echo(PacsNode("ICHVTEST", "127.0.0.1", scp.port), calling_aet="TESTSCU")


class TestBadPeers:
    def test_a_calling_ae_outside_the_allow_list_is_refused_and_logged(self, tmp_path, caplog):
        server = StorageSCP(tmp_path, 0, "ICHVTEST", host="127.0.0.1", allow_aets=["GOODPACS"])
        server.start()
        try:
            with caplog.at_level(logging.INFO, logger="ichviewer"):
                assoc = _assoc(server.port, aet="EVILPACS")
                assert assoc.is_rejected
                time.sleep(0.3)
                ok = _assoc(server.port, aet="GOODPACS")
                assert ok.is_established
                ok.release()
        finally:
            server.stop()
        assert 'refused association from AE "EVILPACS" at 127.0.0.1:' in caplog.text
        assert "not in the allowed list (GOODPACS)" in caplog.text
        assert server.n_refused == 1 and not filed(tmp_path)

    def test_a_sender_refused_by_the_allow_list_gets_a_clear_error(self, tmp_path):
        server = StorageSCP(tmp_path, 0, "ICHVTEST", host="127.0.0.1", allow_aets=["GOODPACS"])
        server.start()
        port = server.port
        try:
            with pytest.raises(PeerError) as err:
                echo(PacsNode("ICHVTEST", "127.0.0.1", port), calling_aet="EVILPACS")
        finally:
            server.stop()
        msg = str(err.value)
        assert f"ICHVTEST@127.0.0.1:{port} refused the association from EVILPACS" in msg
        assert "calling AE" in msg or "AE title" in msg

    def test_an_image_without_pixels_fails_and_earlier_instances_are_kept(self, scp, caplog):
        good = _ct()
        empty = _ct()
        del empty.PixelData
        nostudy = _ct()
        del nostudy.StudyInstanceUID
        assoc = _assoc(scp.port)
        assert assoc.is_established
        with caplog.at_level(logging.INFO, logger="ichviewer"):
            assert assoc.send_c_store(good).Status == 0x0000
            bad = assoc.send_c_store(empty)
            worse = assoc.send_c_store(nostudy)
            again = _ct()
            assert assoc.send_c_store(again).Status == 0x0000  # still serving
        assoc.release()
        assert bad.Status == DATASET_DOES_NOT_MATCH
        assert "without Pixel Data" in bad.ErrorComment
        assert worse.Status == DATASET_DOES_NOT_MATCH
        assert worse.ErrorComment == "StudyInstanceUID is missing"
        assert sop_uids(filed(scp.store.root)) == {good.SOPInstanceUID, again.SOPInstanceUID}
        assert "image SOP class without Pixel Data" in caplog.text
        _no_patient_data(caplog.text)

    def test_a_sop_class_we_do_not_store_is_refused_at_association(self, scp):
        plan = _ct()
        plan.SOPClassUID = plan.file_meta.MediaStorageSOPClassUID = RTPlanStorage
        assoc = _assoc(scp.port, contexts=(CTImageStorage, RTPlanStorage))
        assert assoc.is_established
        accepted = {c.abstract_syntax for c in assoc.accepted_contexts}
        assert CTImageStorage in accepted and RTPlanStorage not in accepted
        with pytest.raises(ValueError, match="presentation context"):
            assoc.send_c_store(plan)
        assert assoc.send_c_store(_ct()).Status == 0x0000
        assoc.release()
        assert len(filed(scp.store.root)) == 1

    def test_a_duplicate_keeps_the_first_copy(self, scp, caplog):
        first = _ct(value=40.0)
        second = _ct(value=90.0)
        second.SOPInstanceUID = second.file_meta.MediaStorageSOPInstanceUID = first.SOPInstanceUID
        assoc = _assoc(scp.port)
        with caplog.at_level(logging.INFO, logger="ichviewer"):
            assert assoc.send_c_store(first).Status == 0x0000
            assert assoc.send_c_store(second).Status == 0x0000  # success: the SCP holds it
        assoc.release()
        (only,) = filed(scp.store.root)
        assert pydicom.dcmread(only).PixelData == first.PixelData
        assert "already stored" in caplog.text and "kept the first copy" in caplog.text

    def test_a_connection_dropped_mid_transfer_loses_nothing_stored(self, scp, caplog):
        sent = [_ct() for _ in range(3)]
        assoc = _assoc(scp.port)
        for ds in sent:
            assert assoc.send_c_store(ds).Status == 0x0000
        # Half of a P-DATA-TF PDU (type 0x04, announcing 100 kB), then the line goes dead.
        sock = assoc.dul.socket.socket
        with caplog.at_level(logging.WARNING, logger="ichviewer"):
            sock.sendall(struct.pack(">BBI", 0x04, 0x00, 100_000) + b"\x00" * 4000)
            sock.close()
            assoc.abort()
            deadline = time.monotonic() + 10
            while "aborted" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.1)
        assert "aborted (connection dropped?)" in caplog.text
        assert sop_uids(filed(scp.store.root)) == {ds.SOPInstanceUID for ds in sent}
        assert not stray_temp_files(scp.store.root)
        after = _ct()  # and the server still takes the next study
        assoc = _assoc(scp.port)
        assert assoc.send_c_store(after).Status == 0x0000
        assoc.release()
        assert len(filed(scp.store.root)) == 4

    def test_many_senders_at_once(self, scp):
        def push(k):
            assoc = _assoc(scp.port, aet=f"SCU{k}")
            for _ in range(5):
                assoc.send_c_store(_ct(study=f"1.2.3.{k}", series=f"1.2.3.{k}.1"))
            assoc.release()

        threads = [threading.Thread(target=push, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(filed(scp.store.root)) == 20
        assert len(scp.store.studies()) == 4


class TestMissingPeer:
    def test_nothing_listening_names_host_port_and_ae(self, free_port):
        node = PacsNode("NOBODY", "127.0.0.1", free_port)
        with pytest.raises(PeerError) as err:
            echo(node, calling_aet="ICHVTEST")
        assert f"cannot connect to NOBODY@127.0.0.1:{free_port}" in str(err.value)
        with pytest.raises(PeerError, match=f"NOBODY@127.0.0.1:{free_port}"):
            send_files(node, demo_files()[:1], calling_aet="ICHVTEST")

    def test_an_unreadable_file_to_send_is_named(self, tmp_path, free_port):
        junk = tmp_path / "junk.dcm"
        junk.write_bytes(b"not dicom")
        with pytest.raises(PeerError, match="junk.dcm"):
            send_files(PacsNode("X", "127.0.0.1", free_port), [junk])


@pytest.fixture
def free_port():
    from tests.net.conftest import free_port as pick

    return pick()


def test_new_uids_do_not_collide():
    assert generate_uid() != generate_uid()
