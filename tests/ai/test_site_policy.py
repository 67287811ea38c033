"""A reading room's site file decides the model and thresholds of headless triage."""

from __future__ import annotations

import argparse
import json
import shutil

from ichviewer import triage_cli as triage
from ichviewer.ai.predictor import Predictor
from ichviewer.ai.site import load_site_checkpoint
from ichviewer.core.labels import LABELS
from ichviewer.site_config import load_site_config


def _triage(*argv: object) -> dict:
    parser = triage.add_arguments(argparse.ArgumentParser())
    out = argv[-1]
    assert triage.run(parser.parse_args([str(a) for a in argv])) == 0
    return json.loads(out.read_text())


def test_site_model_and_thresholds_drive_triage(tmp_path, tiny_ckpt, dicom_study, site_file):
    folder, _ = dicom_study
    site_model = shutil.copy(tiny_ckpt, tmp_path / "site-model.pt")
    site_file({"model": str(site_model), "thresholds": {"any": 0.0}})
    report = _triage(folder, "--device", "cpu", "--out", tmp_path / "r.json")
    model = report["model"]
    assert model["path"] == str(site_model)
    assert model["thresholds"]["any"] == 0.0  # the site's, not the checkpoint's 0.5
    assert model["thresholds"]["subdural"] == 0.5  # labels the site left alone
    assert "site config" in model["threshold_source"]
    # With 'any' at 0 every slice is flagged for 'any'.
    (study,) = report["studies"]
    assert all("any" in s["flagged_labels"] for s in study["slices"])
    assert len(study["flagged"]) == len(study["slices"])


def test_explicit_model_keeps_its_own_thresholds(tmp_path, tiny_ckpt, dicom_study, site_file):
    folder, _ = dicom_study
    site_model = shutil.copy(tiny_ckpt, tmp_path / "site-model.pt")
    site_file({"model": str(site_model), "thresholds": {"any": 0.0}})
    report = _triage(folder, "--model", tiny_ckpt, "--device", "cpu", "--out", tmp_path / "r.json")
    assert report["model"]["path"] == str(tiny_ckpt)
    assert report["model"]["thresholds"] == {lb: 0.5 for lb in LABELS}
    assert report["model"]["threshold_source"] == "checkpoint"


def test_bad_site_file_warns_and_triage_still_runs(
    tmp_path, tiny_ckpt, dicom_study, site_file, caplog
):
    folder, _ = dicom_study
    path = site_file({"thresholds": {"any": 7}})
    report = _triage(folder, "--model", tiny_ckpt, "--device", "cpu", "--out", tmp_path / "r.json")
    assert report["model"]["thresholds"]["any"] == 0.5
    # Logged once as a warning (on stderr under `ichviewer triage`), not printed again.
    err = caplog.text
    assert f"site config {path}: thresholds.any" in err and "outside [0, 1]" in err


def test_predictor_flags_with_site_thresholds(tmp_path, tiny_ckpt, site_file):
    site_model = shutil.copy(tiny_ckpt, tmp_path / "site-model.pt")
    site_file({"model": str(site_model), "thresholds": {"subdural": 1.0}})
    p = Predictor(load_site_checkpoint(site_model, load_site_config()), device="cpu")
    assert p.thresholds[LABELS.index("subdural")] == 1.0
    almost = [0.99] * len(LABELS)
    assert "subdural" not in p.flagged_labels(almost)
    assert "epidural" in p.flagged_labels(almost)
