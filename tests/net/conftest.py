"""A real PACS for the network tests: Orthanc (Debian package) on loopback ports, with a
temporary configuration and storage, started once per session.

Orthanc knows our test AE (``OUR_AET``) at ``our_port``, a port reserved here for the
storage SCP the tests start when Orthanc has to send to us (C-MOVE, REST store).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from ichviewer.net.nodes import PacsNode

OUR_AET = "ICHVTEST"
ORTHANC_AET = "ORTHANCTEST"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    node: PacsNode
    http_port: int
    our_port: int
    storage: Path

    def rest(self, path: str, method: str = "GET", body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method
        )
        with urllib.request.urlopen(req, timeout=60) as rsp:
            raw = rsp.read()
        return json.loads(raw) if raw else None

    def clear(self) -> None:
        """Delete every patient (so a test starts from an empty PACS)."""
        for pid in self.rest("/patients"):
            self.rest(f"/patients/{pid}", method="DELETE")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Orthanc:
    exe = shutil.which("Orthanc") or shutil.which("orthanc")
    if exe is None:
        pytest.skip(
            "Orthanc is not installed (apt-get install orthanc; .ci/run does it): "
            "the PACS round-trip tests need a real PACS"
        )
    base = tmp_path_factory.mktemp("orthanc")
    dicom_port, http_port, our_port = free_port(), free_port(), free_port()
    config = {
        "Name": "ichviewer-test",
        "DicomAet": ORTHANC_AET,
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "StorageDirectory": str(base / "storage"),
        "IndexDirectory": str(base / "index"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "UnknownSopClassAccepted": False,
        "Plugins": [],
        "DicomModalities": {
            "ichv": {
                "AET": OUR_AET,
                "Host": "127.0.0.1",
                "Port": our_port,
                "AllowEcho": True,
                "AllowFind": True,
                "AllowGet": True,
                "AllowMove": True,
                "AllowStore": True,
            }
        },
        "StableAge": 1,
        "ConcurrentJobs": 2,
    }
    cfg = base / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=2))
    log = open(base / "orthanc.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([exe, str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    node = PacsNode(aet=ORTHANC_AET, host="127.0.0.1", port=dicom_port, name="orthanc")
    server = Orthanc(node=node, http_port=http_port, our_port=our_port, storage=base)
    from ichviewer.net.nodes import PeerError
    from ichviewer.net.query import echo

    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            log.close()
            tail = (base / "orthanc.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"Orthanc exited with {proc.returncode} at start:\n{tail}")
        try:
            echo(node, calling_aet=OUR_AET)
            break
        except PeerError:
            if time.monotonic() > deadline:
                proc.terminate()
                pytest.fail("Orthanc did not answer C-ECHO within 60 s")
            time.sleep(0.3)
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
