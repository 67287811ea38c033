"""Second-read marks on disk and the results export (no Qt)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from ichviewer.core.labels import LABELS
from ichviewer.io.marks import (
    CSV_COLUMNS,
    StudyMarks,
    load_marks,
    marks_path,
    results_csv,
    results_report,
    save_marks,
    write_results,
)

STUDY, SERIES = "1.2.826.0.1.3680043.8.498.7", "1.2.826.0.1.3680043.8.498.8"


class TestStudyMarks:
    def test_update_keeps_unchanged_fields_and_drops_empty_marks(self) -> None:
        m = StudyMarks(STUDY, SERIES)
        m.update("uid1", verdict="agree", index=3, ai_labels=["any"])
        m.update("uid1", note="  rim of blood, temporal  ")
        mark = m.get("uid1")
        assert (mark.verdict, mark.note, mark.index, mark.ai_labels) == (
            "agree",
            "rim of blood, temporal",
            3,
            ["any"],
        )
        assert mark.updated
        m.update("uid1", verdict=None, note="")
        assert m.get("uid1") is None

    def test_bad_verdict_and_field(self) -> None:
        m = StudyMarks(STUDY, SERIES)
        with pytest.raises(ValueError, match="verdict"):
            m.update("u", verdict="maybe")
        with pytest.raises(TypeError, match="colour"):
            m.update("u", verdict="agree", colour="red")


class TestFiles:
    def test_round_trip_and_hashed_name(self, tmp_path: Path) -> None:
        m = StudyMarks(STUDY, SERIES)
        m.update("uid1", verdict="disagree", note="calcification", position_mm=12.5)
        m.update("uid2", verdict="unsure")
        path = save_marks(m)
        assert path == marks_path(STUDY, SERIES)
        assert path.parent.name == "marks" and STUDY not in path.name and SERIES not in path.name
        back, warning = load_marks(STUDY, SERIES)
        assert warning is None
        assert back.marks == m.marks

    def test_data_dir_is_used(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ICHVIEWER_DATA_DIR", str(tmp_path / "data"))
        assert marks_path(STUDY, SERIES).is_relative_to(tmp_path / "data" / "marks")

    def test_other_series_have_other_files(self) -> None:
        assert marks_path(STUDY, SERIES) != marks_path(STUDY, SERIES + "1")

    def test_none_saved(self) -> None:
        m, warning = load_marks(STUDY, SERIES)
        assert m.marks == {} and warning is None

    def test_every_save_is_a_whole_json_file_and_leaves_no_temp(self) -> None:
        m = StudyMarks(STUDY, SERIES)
        for k, verdict in enumerate(("agree", "disagree", "unsure", None)):
            m.update(f"uid{k}", verdict=verdict, note=f"note {k}")
            path = save_marks(m)
            on_disk = json.loads(path.read_text())
            assert len(on_disk["marks"]) == k + 1
        assert [p.name for p in path.parent.iterdir()] == [path.name]

    @pytest.mark.parametrize(
        "content",
        [
            b"{not json",
            b'{"format": "something-else"}',
            b'{"format": "ichviewer-marks", "version": 1, "marks": {"u": {"verdict": "perhaps"}}}',
            b"[" * 100_000 + b"]" * 100_000,  # nested deeper than any parser's stack
            b'{"format": "ichviewer-marks", "version": 1, "marks": {"u": {"note": 5}}}',
            b'{"format": "ichviewer-marks", "version": 1, "marks": {"u": {"index": "3"}}}',
            b'{"format": "ichviewer-marks", "version": 1, "marks": {"u": {"ai_labels": [1]}}}',
        ],
    )
    def test_unreadable_file_is_kept_aside_and_reported(self, content: bytes) -> None:
        path = marks_path(STUDY, SERIES)
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        m, warning = load_marks(STUDY, SERIES)
        assert m.marks == {}
        assert "could not be read" in warning and ".corrupt" in warning
        assert path.with_name(path.name + ".corrupt").read_bytes() == content
        assert not path.exists()

    def test_an_earlier_corrupt_file_is_never_overwritten(self) -> None:
        path = marks_path(STUDY, SERIES)
        path.parent.mkdir(parents=True)
        for content in (b"{first", b"{second"):
            path.write_bytes(content)
            load_marks(STUDY, SERIES)
        assert path.with_name(path.name + ".corrupt").read_bytes() == b"{first"
        assert path.with_name(path.name + ".corrupt.1").read_bytes() == b"{second"

    def test_temp_files_of_killed_writes_are_cleaned(self) -> None:
        import os
        import time

        path = marks_path(STUDY, SERIES)
        path.parent.mkdir(parents=True)
        stale = path.with_name(f".{path.name}.99999.tmp")
        fresh = path.with_name(f".{path.name}.99998.tmp")
        stale.write_bytes(b"{half")
        fresh.write_bytes(b"{being written")
        old = time.time() - 2 * 3600
        os.utime(stale, (old, old))
        load_marks(STUDY, SERIES)
        assert not stale.exists() and fresh.exists()  # another process may still write it


def _report(marks: StudyMarks | None = None) -> dict:
    p = np.full((3, 6), np.nan, dtype=np.float32)
    p[0] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    p[2] = [0.9, 0.0, 0.0, 0.0, 0.0, 0.95]
    return results_report(
        study_uid=STUDY,
        series_uid=SERIES,
        description="HEAD",
        slices=[("a", 0.0), ("b", 5.0), ("c", 10.0)],
        probabilities=p,
        thresholds=[0.5] * 6,
        model={"name": "tiny", "sha256": "ab" * 32},
        marks=marks,
    )


class TestExport:
    def test_json_report(self, tmp_path: Path) -> None:
        marks = StudyMarks(STUDY, SERIES)
        marks.update("c", verdict="agree", note="epidural")
        out = write_results(tmp_path / "r.json", _report(marks))
        rep = json.loads(out.read_text())
        assert rep["disclaimer"] == "Not for diagnostic use"
        assert rep["model"]["sha256"] == "ab" * 32
        st = rep["studies"][0]
        assert st["n_scored"] == 2 and st["flagged"] == ["a", "c"]
        assert st["max"]["epidural"] == pytest.approx(0.9)
        assert st["slices"][1]["probabilities"] is None
        assert st["slices"][0]["flagged_labels"] == ["subdural", "any"]
        assert st["slices"][2]["mark"]["verdict"] == "agree"
        assert st["slices"][2]["probabilities"]["any"] == pytest.approx(0.95)

    def test_csv_report(self, tmp_path: Path) -> None:
        marks = StudyMarks(STUDY, SERIES)
        marks.update("a", verdict="disagree", note='says "blood", is calcium')
        out = write_results(tmp_path / "r.csv", _report(marks))
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert [r["sop_instance_uid"] for r in rows] == ["a", "b", "c"]
        assert float(rows[0]["any"]) == pytest.approx(0.6)
        assert rows[0]["note"] == 'says "blood", is calcium'
        assert rows[0]["verdict"] == "disagree" and rows[2]["verdict"] == ""
        assert all(rows[1][lb] == "" for lb in LABELS)
        assert rows[2]["flagged_labels"] == "epidural;any"
        assert rows[0]["disclaimer"] == "Not for diagnostic use"
        assert results_csv(_report()).count("\n") == 4

    def test_shape_mismatch(self) -> None:
        with pytest.raises(ValueError, match="probabilities"):
            results_report(
                study_uid="s",
                series_uid="t",
                description="",
                slices=[("a", 0.0)],
                probabilities=np.zeros((2, 6)),
                thresholds=[0.5] * 6,
                model={},
            )
