"""The issue's "done when": a study pushed with pynetdicom's storescu is stored and scored
without a click, and the result as DICOM goes to a real PACS referencing the flagged slices."""

from __future__ import annotations

import argparse
import json
import threading
import time

import pydicom
import pytest

from ichviewer.net.cli import add_receive_parser, dicom_out, run_receive
from ichviewer.net.filing import REPORT_NAME
from tests.net.conftest import OUR_AET, free_port
from tests.net.helpers import demo_files, filed, sr_image_references, storescu

pytestmark = pytest.mark.slow


def _receive_args(argv):
    parser = argparse.ArgumentParser()
    add_receive_parser(parser.add_subparsers())
    return parser.parse_args(["receive", *argv])


@pytest.fixture(scope="module")
def received(tmp_path_factory):
    """`receive --score` running (as the CLI runs it), the demo pushed with storescu."""
    store = tmp_path_factory.mktemp("store")
    port = free_port()
    args = _receive_args(
        [
            "--port",
            str(port),
            "--aet",
            "ICHVRX",
            "--store",
            str(store),
            "--score",
            "--settle",
            "1",
            "--host",
            "127.0.0.1",
            "--allow-aet",
            "STORESCU",
        ]
    )
    stop = threading.Event()
    rc = []
    server = threading.Thread(target=lambda: rc.append(run_receive(args, stop)), daemon=True)
    server.start()
    deadline = time.monotonic() + 20
    while True:  # wait until it listens
        pushed = storescu(port, demo_files()[0].parent, aec="ICHVRX")
        if pushed.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    study = store / str(pydicom.dcmread(demo_files()[0], stop_before_pixels=True).StudyInstanceUID)
    report = study / REPORT_NAME
    deadline = time.monotonic() + 120  # scoring the demo takes ~5 s here
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    server.join(60)
    assert rc == [0]
    return study, report


def test_a_pushed_study_is_scored_without_a_click(received):
    study, report = received
    data = json.loads(report.read_text())
    assert data["format"] == "ichviewer-triage"
    assert {"model", "studies", "errors", "n_series", "n_slices", "disclaimer"} <= set(data)
    assert {"sha256", "name", "path"} <= set(data["model"])
    (st,) = data["studies"]
    for key in (
        "study_instance_uid",
        "series_instance_uid",
        "max",
        "flagged",
        "slices",
        "study_probability",
        "study_flagged",
        "study_threshold",
        "in_scope",
        "scope_reason",
    ):
        assert key in st
    assert st["study_instance_uid"] == study.name and st["in_scope"] is True
    assert len(st["slices"]) == 29 and st["study_flagged"] is True and st["flagged"]
    assert len(filed(study)) == 29  # the received files untouched beside the report


def test_the_result_as_dicom_is_accepted_by_orthanc(received, orthanc, tmp_path):
    study, report_path = received
    report = json.loads(report_path.read_text())
    files = dicom_out(report, [study], tmp_path, send_to=orthanc.node, calling_aet=OUR_AET)
    flagged = report["studies"][0]["flagged"]
    assert len(files) == 2 + len(flagged)
    sr = next(pydicom.dcmread(p) for p in files if pydicom.dcmread(p).Modality == "SR")
    assert sr_image_references(sr) == flagged
    for p in files:  # every one of them is in Orthanc now
        uid = str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
        hits = orthanc.rest(
            "/tools/find",
            method="POST",
            body={"Level": "Instance", "Query": {"SOPInstanceUID": uid}},
        )
        assert len(hits) == 1, p.name
    assert not any(p.is_relative_to(study) for p in files)  # nothing written into the source
