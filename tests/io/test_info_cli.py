"""`ichviewer info`: the contract scripts outside this repo rely on (DESIGN.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ichviewer.cli import main
from tests.conftest import realct
from tests.dicom_factory import write_series


def run_json(capsys, *args) -> tuple[int, dict]:
    rc = main(["info", *map(str, args), "--json"])
    return rc, json.loads(capsys.readouterr().out)


class TestInfoJson:
    def test_keys_and_values(self, tmp_path, capsys):
        write_series(tmp_path, n=3, description="HEAD 5mm")
        (tmp_path / "junk.dcm").write_bytes(b"nope")
        rc, out = run_json(capsys, tmp_path)
        assert rc == 0
        (s,) = out["series"]
        assert {"series_instance_uid", "description", "modality", "n_slices", "slices"} <= set(s)
        assert s["description"] == "HEAD 5mm" and s["modality"] == "CT" and s["n_slices"] == 3
        assert [x["hu_mean"] for x in s["slices"]] == [0.0, 10.0, 20.0]
        first = s["slices"][0]
        assert {"file", "sop_instance_uid", "position_mm", "hu_min", "hu_max", "hu_mean"} <= set(
            first
        )
        assert [x["position_mm"] for x in s["slices"]] == [0.0, 5.0, 10.0]
        (err,) = out["errors"]
        assert err["file"].endswith("junk.dcm") and "not a DICOM" in err["error"]

    def test_exit_1_when_nothing_loads(self, tmp_path, capsys):
        (tmp_path / "a.dcm").write_bytes(b"nope")
        rc, out = run_json(capsys, tmp_path)
        assert rc == 1 and out["series"] == [] and len(out["errors"]) == 1

    def test_patient_name_not_printed(self, tmp_path, capsys):
        write_series(tmp_path, n=2)
        main(["info", str(tmp_path)])
        main(["info", str(tmp_path), "--json"])
        text = capsys.readouterr().out
        assert "DOE" not in text and "SECRET-ID" not in text

    @pytest.mark.realct
    def test_real_head_series_text_output(self, capsys):
        assert main(["info", str(realct("ge_head"))]) == 0
        text = capsys.readouterr().out
        assert "28 slices" in text and "gantry tilt 18.5 deg" in text and "HU range -1024" in text

    def test_console_entry_point(self, tmp_path):
        write_series(tmp_path, n=2)
        proc = subprocess.run(
            [sys.executable, "-m", "ichviewer", "info", str(tmp_path), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["series"][0]["n_slices"] == 2
