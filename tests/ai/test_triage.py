"""Headless triage and self-test, end to end on a small DICOM study written here."""

from __future__ import annotations

import argparse
import csv
import json
import shutil

import numpy as np
import pytest

from ichviewer import triage_cli as triage
from ichviewer.ai.predictor import Predictor
from ichviewer.core.labels import LABELS
from ichviewer.io import SeriesReader, scan
from tests.ai.conftest import neighbour_context, write_ct_series


def _run(*argv: str) -> int:
    parser = triage.add_arguments(argparse.ArgumentParser())
    return triage.run(parser.parse_args([str(a) for a in argv]))


@pytest.fixture()
def study_with_junk(dicom_study):
    folder, uids = dicom_study
    (folder / "broken.dcm").write_bytes(b"\x00" * 200 + b"this is not DICOM")
    return folder, uids


class TestTriageJson:
    def test_report_agrees_with_the_predictor(self, tmp_path, tiny_ckpt, study_with_junk, capsys):
        folder, uids = study_with_junk
        out = tmp_path / "report.json"
        assert _run(folder, "--model", tiny_ckpt, "--device", "cpu", "--out", out) == 0
        report = json.loads(out.read_text())
        err = capsys.readouterr().err
        assert "scoring series 1/1" in err and "wrote" in err

        predictor = Predictor(tiny_ckpt, device="cpu")
        assert report["model"]["sha256"] == predictor.sha256
        assert report["model"]["name"] == "tiny-test"
        assert report["model"]["thresholds"] == {lb: 0.5 for lb in LABELS}
        assert report["disclaimer"] == "Synthetic-phantom model, not for diagnostic use"

        (study,) = report["studies"]
        series = scan([folder]).series[0]
        assert study["study_instance_uid"] == series.study_instance_uid
        assert study["series_instance_uid"] == series.series_instance_uid
        assert study["description"] == "test head" and study["n_slices"] == 5
        assert [s["sop_instance_uid"] for s in study["slices"]] == uids  # inferior first
        assert [s["position_mm"] for s in study["slices"]] == [0.0, 5.0, 10.0, 15.0, 20.0]

        expected = predictor.predict(list(SeriesReader(series).load_all()))
        for sl, res in zip(study["slices"], expected, strict=True):
            assert list(sl["probabilities"]) == list(LABELS)
            got = np.array([sl["probabilities"][lb] for lb in LABELS])
            np.testing.assert_allclose(got, res.probabilities, atol=5e-3)
            assert sl["flagged_labels"] == [lb for lb in LABELS if sl["probabilities"][lb] >= 0.5]
        probs = np.array([[s["probabilities"][lb] for lb in LABELS] for s in study["slices"]])
        assert study["max"] == {
            lb: pytest.approx(p) for lb, p in zip(LABELS, probs.max(0), strict=True)
        }
        assert study["flagged"] == [
            s["sop_instance_uid"] for s in study["slices"] if s["flagged_labels"]
        ]

        (error,) = report["errors"]
        assert error["file"].endswith("broken.dcm") and error["error"]

    def test_series_context_is_what_the_report_shows(self, tmp_path, ctx_ckpt, dicom_study):
        folder, uids = dicom_study
        out = tmp_path / "report.json"
        assert _run(folder, "--model", ctx_ckpt, "--device", "cpu", "--out", out) == 0
        (study,) = json.loads(out.read_text())["studies"]
        predictor = Predictor(ctx_ckpt, device="cpu")
        series = scan([folder]).series[0]
        alone = np.stack(
            [r.probabilities for r in predictor.predict(list(SeriesReader(series).load_all()))]
        )
        shown = neighbour_context().apply(alone, [0.0, 5.0, 10.0, 15.0, 20.0])
        got = np.array([[sl["probabilities"][lb] for lb in LABELS] for sl in study["slices"]])
        raw = np.array([[sl["slice_probabilities"][lb] for lb in LABELS] for sl in study["slices"]])
        np.testing.assert_allclose(raw, alone, atol=5e-3)
        np.testing.assert_allclose(got, shown, atol=1e-2)
        assert np.abs(got - raw).max() > 0.05  # the stage really moved them
        for sl in study["slices"]:  # flags follow the revised values and their thresholds
            assert sl["flagged_labels"] == [lb for lb in LABELS if sl["probabilities"][lb] >= 0.6]
        assert study["max"]["any"] == pytest.approx(got[:, -1].max(), abs=1e-6)

    def test_second_run_uses_the_cache_and_no_cache_writes_none(
        self, tmp_path, tiny_ckpt, dicom_study, cache_root
    ):
        folder, _ = dicom_study
        assert _run(folder, "--model", tiny_ckpt, "--out", tmp_path / "a.json", "--no-cache") == 0
        assert not (cache_root / "results").exists()
        assert _run(folder, "--model", tiny_ckpt, "--out", tmp_path / "b.json") == 0
        assert len(list((cache_root / "results").rglob("*.json"))) == 5
        assert _run(folder, "--model", tiny_ckpt, "--out", tmp_path / "c.json") == 0
        b, c = (json.loads((tmp_path / n).read_text()) for n in ("b.json", "c.json"))
        assert b["studies"] == c["studies"]

    def test_two_series_in_two_studies(self, tmp_path, tiny_ckpt):
        write_ct_series(tmp_path / "in" / "a", n=3, study_uid="1.2.3.100")
        write_ct_series(tmp_path / "in" / "b", n=4, study_uid="1.2.3.200", description="other")
        out = tmp_path / "r.json"
        assert _run(tmp_path / "in", "--model", tiny_ckpt, "--out", out, "--batch-size", "2") == 0
        studies = json.loads(out.read_text())["studies"]
        assert sorted(s["study_instance_uid"] for s in studies) == ["1.2.3.100", "1.2.3.200"]
        assert sorted(len(s["slices"]) for s in studies) == [3, 4]


class TestTriageCsv:
    def test_one_row_per_slice_that_rereads(self, tmp_path, tiny_ckpt, study_with_junk):
        folder, uids = study_with_junk
        assert _run(folder, "--model", tiny_ckpt, "--out", tmp_path / "r.json") == 0
        assert _run(folder, "--model", tiny_ckpt, "--out", tmp_path / "r.csv") == 0
        report = json.loads((tmp_path / "r.json").read_text())
        with open(tmp_path / "r.csv", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
        assert tuple(reader.fieldnames) == triage.CSV_COLUMNS
        assert [r["sop_instance_uid"] for r in rows] == uids
        for row, sl in zip(rows, report["studies"][0]["slices"], strict=True):
            assert float(row["position_mm"]) == sl["position_mm"]
            for lb in LABELS:
                assert float(row[lb]) == pytest.approx(sl["probabilities"][lb], abs=1e-6)
            assert row["flagged_labels"] == ";".join(sl["flagged_labels"])


class TestTriageFailures:
    def test_bad_model_exits_2_with_the_reason(self, tmp_path, dicom_study, capsys):
        folder, _ = dicom_study
        bad = tmp_path / "bad.pt"
        bad.write_bytes(b"garbage")
        assert _run(folder, "--model", bad, "--out", tmp_path / "r.json") == 2
        assert "not a checkpoint file" in capsys.readouterr().err
        assert not (tmp_path / "r.json").exists()

    def test_missing_bundled_model_is_named(self, tmp_path, dicom_study, monkeypatch, capsys):
        monkeypatch.setenv("ICHVIEWER_RESOURCES", str(tmp_path / "no-resources"))
        folder, _ = dicom_study
        assert _run(folder, "--out", tmp_path / "r.json") == 2
        err = capsys.readouterr().err
        assert "ichviewer-densenet.pt does not exist" in err and "--model" in err

    def test_nothing_scorable_exits_2(self, tmp_path, tiny_ckpt, capsys):
        (tmp_path / "junk").mkdir()
        (tmp_path / "junk" / "a.dcm").write_bytes(b"nope")
        out = tmp_path / "r.json"
        assert _run(tmp_path / "junk", "--model", tiny_ckpt, "--out", out) == 2
        assert "no image series" in capsys.readouterr().err
        assert json.loads(out.read_text())["errors"]  # the report says why

    def test_unknown_report_type(self, tmp_path, tiny_ckpt, dicom_study, capsys):
        assert _run(dicom_study[0], "--model", tiny_ckpt, "--out", tmp_path / "r.txt") == 2
        assert ".json or .csv" in capsys.readouterr().err


class TestSelfTest:
    def test_scores_the_study_and_prints_a_summary(self, tiny_ckpt, dicom_study, capsys):
        folder, _ = dicom_study
        assert triage.self_test(study=folder, model=tiny_ckpt, device="cpu") == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["ok"] and summary["n_slices"] == 5
        assert set(summary["max"]) == set(LABELS)
        assert summary["model_sha256"] == Predictor(tiny_ckpt).sha256
        assert summary["precision"] in ("fp32", "bf16", "int8") and summary["seconds"] > 0

    def test_missing_demo_study_fails_clearly(self, tmp_path, tiny_ckpt, capsys):
        assert triage.self_test(study=tmp_path / "nowhere", model=tiny_ckpt) != 0
        assert "demo study not found" in capsys.readouterr().err

    def test_bad_bundled_model_fails_clearly(self, tmp_path, dicom_study, capsys):
        model = tmp_path / "m.pt"
        shutil.copy(__file__, model)
        assert triage.self_test(study=dicom_study[0], model=model) != 0
        assert "not a checkpoint file" in capsys.readouterr().err

    def test_cli_model_flag_reaches_the_self_test(
        self, tiny_ckpt, dicom_study, monkeypatch, capsys
    ):
        from ichviewer import cli

        monkeypatch.setattr(triage, "demo_study_path", lambda: dicom_study[0])
        assert cli.main(["--self-test", "--model", str(tiny_ckpt)]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["model_name"] == "tiny-test" and summary["n_slices"] == 5


class TestStudyLevelAndScope:
    """Each study carries the study-level call and whether it is in the model's scope."""

    def test_study_probability_and_the_checkpoints_study_threshold(
        self, tmp_path, tiny_spec, dicom_study
    ):
        from tests.ai.conftest import _save_tiny

        folder, _ = dicom_study
        results = {}
        for name, thr in (("low", 0.0), ("high", 1.0)):
            ckpt = _save_tiny(tmp_path / f"{name}.pt", tiny_spec, name, study_threshold=thr)
            out = tmp_path / f"{name}.json"
            assert _run(folder, "--model", ckpt, "--device", "cpu", "--out", out) == 0
            (study,) = json.loads(out.read_text())["studies"]
            results[name] = study
        low, high = results["low"], results["high"]
        p_any = max(s["probabilities"]["any"] for s in low["slices"])
        assert low["study_probability"] == pytest.approx(p_any)
        assert low["study_flagged"] is True and high["study_flagged"] is False
        assert high["study_threshold"] == 1.0
        assert low["in_scope"] is True and low["scope_reason"] == ""

    def test_without_a_study_threshold_the_slice_threshold_of_any_decides(
        self, tmp_path, tiny_ckpt, dicom_study
    ):
        folder, _ = dicom_study
        out = tmp_path / "r.json"
        assert _run(folder, "--model", tiny_ckpt, "--device", "cpu", "--out", out) == 0
        (study,) = json.loads(out.read_text())["studies"]
        assert study["study_threshold"] == 0.5
        assert study["study_flagged"] == (study["study_probability"] >= 0.5)

    def test_chest_ct_is_out_of_scope_and_flags_nothing(self, tmp_path, tiny_spec, capsys):
        from tests.ai.conftest import _save_tiny
        from tests.conftest import realct

        chest = realct("transfer_syntaxes") / "CTImage.dcm"
        head = realct("ge_head")
        # Thresholds of 0: every slice of an in-scope series is flagged.
        ckpt = _save_tiny(tmp_path / "z.pt", tiny_spec, "zero", thresholds=[0.0] * 6)
        out = tmp_path / "r.json"
        assert _run(chest, head, "--model", ckpt, "--device", "cpu", "--out", out) == 0
        by_desc = {s["n_slices"]: s for s in json.loads(out.read_text())["studies"]}
        c, h = by_desc[1], by_desc[28]
        assert c["in_scope"] is False and "not a head CT" in c["scope_reason"]
        assert c["flagged"] == [] and c["study_flagged"] is False
        assert all(s["flagged_labels"] == [] for s in c["slices"])
        assert h["in_scope"] is True and len(h["flagged"]) == 28 and h["study_flagged"]
        assert "out of scope" in capsys.readouterr().err


class TestBrokenModel:
    """A model whose weights overflow to NaN never produces a report that reads negative."""

    @pytest.fixture()
    def nan_ckpt(self, tmp_path, tiny_spec):
        import torch

        from ichviewer.ai.checkpoint import save_checkpoint
        from tests.ai.conftest import tiny_model

        model = tiny_model()
        with torch.no_grad():
            model.classifier.weight.fill_(3e38)
            model.classifier.weight[:, ::2] = -3e38  # inf - inf = NaN in the head
        path = tmp_path / "nan.pt"
        save_checkpoint(path, model, tiny_spec, [0.5] * 6, {"name": "nan-model"})
        return path

    def test_triage_exits_non_zero_and_names_the_model(
        self, tmp_path, nan_ckpt, dicom_study, capsys
    ):
        folder, _ = dicom_study
        out = tmp_path / "r.json"
        assert _run(folder, "--model", nan_ckpt, "--no-cache", "--out", out) == 2
        err = capsys.readouterr().err
        assert "nan-model" in err and "NaN" in err
        assert not out.exists()

    def test_self_test_fails(self, nan_ckpt, dicom_study, capsys):
        folder, _ = dicom_study
        assert triage.self_test(folder, model=nan_ckpt, device="cpu") != 0
        assert "nan-model" in capsys.readouterr().err


class TestDicomOut:
    def test_the_result_is_written_as_dicom_in_the_same_study(
        self, tmp_path, tiny_ckpt, dicom_study
    ):
        """triage --dicom-out: an SR and a KOS in the scored study, referencing exactly the
        flagged slices, and one secondary capture per flagged slice; the study folder is
        left as it was."""
        import pydicom

        folder, uids = dicom_study
        before = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
        out, dcm = tmp_path / "r.json", tmp_path / "dicom"
        assert (
            _run(str(folder), "--model", str(tiny_ckpt), "--out", str(out), "--dicom-out", str(dcm))
            == 0
        )
        report = json.loads(out.read_text())
        (st,) = report["studies"]
        flagged = {s["sop_instance_uid"] for s in st["slices"] if s["flagged_labels"]}
        assert flagged  # the tiny model flags some of these slices at 0.5
        written = [pydicom.dcmread(f) for f in sorted(dcm.rglob("*.dcm"))]
        by_modality: dict[str, list] = {}
        for ds in written:
            by_modality.setdefault(ds.Modality, []).append(ds)
            assert ds.StudyInstanceUID == st["study_instance_uid"]
            assert ds.SeriesInstanceUID != st["series_instance_uid"]
        assert len(by_modality["SR"]) == 1 and len(by_modality["KO"]) == 1
        assert len(by_modality.get("OT", [])) == len(flagged)

        def referenced(ds) -> set[str]:
            return {
                inst.ReferencedSOPInstanceUID
                for ev in ds.CurrentRequestedProcedureEvidenceSequence
                for series in ev.ReferencedSeriesSequence
                for inst in series.ReferencedSOPSequence
            }

        assert referenced(by_modality["KO"][0]) == flagged <= set(uids)
        assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) == before
