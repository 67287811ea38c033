"""The AI result as DICOM: SR, KOS and heatmap captures, checked field by field and with
dicom3tools' dciodvfy (no PACS needed)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.uid import ComprehensiveSRStorage, KeyObjectSelectionDocumentStorage

from ichviewer import __version__
from ichviewer.net.results import NOT_FOR_DIAGNOSTIC_USE, burn_in, write_dicom_results
from tests.net.helpers import demo_files, fake_report, sr_image_references, sr_values


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("dicom-out")
    src = demo_files()[0].parent
    report = fake_report([src])
    flagged = report["studies"][0]["flagged"]
    maps = {flagged[0]: np.outer(np.hanning(512), np.hanning(512)).astype(np.float32)}
    (res,) = write_dicom_results(report, [src], out, heatmaps=maps)
    return report, res, out


class TestStructuredReport:
    def test_references_the_flagged_slices_with_labels_and_probabilities(self, written):
        report, res, _ = written
        sr = pydicom.dcmread(res.sr)
        assert sr.SOPClassUID == ComprehensiveSRStorage
        flagged = report["studies"][0]["flagged"]
        assert sr_image_references(sr) == flagged
        values = sr_values(sr)
        assert ("Algorithm Name", "test-model") in values
        assert ("Algorithm Version", "3") in values
        assert ("Algorithm Parameters", "sha256=" + "ab" * 32) in values
        assert ("Finding", "Intracranial hemorrhage") in values  # the study decision
        assert ("AI study-level probability of intracranial hemorrhage", "0.91") in values
        assert ("AI study-level operating threshold", "0.26") in values
        assert values.count(("Finding", "Subdural hemorrhage")) == len(flagged)
        assert values.count(("AI probability of subdural hemorrhage", "0.91")) == len(flagged)
        boxes = [i for i in sr.ContentSequence if i.ValueType == "CONTAINER"]
        assert len(boxes) == len(flagged)
        nums = [i for i in boxes[0].ContentSequence if i.ValueType == "NUM"]
        assert len(nums) == 6
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
        assert len(evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence) == 29

    def test_new_uids_same_study_our_equipment_source_patient(self, written):
        report, res, out = written
        src = pydicom.dcmread(demo_files()[0], stop_before_pixels=True)
        for path in res.files:
            ds = pydicom.dcmread(path)
            assert ds.StudyInstanceUID == src.StudyInstanceUID
            assert ds.SeriesInstanceUID != src.SeriesInstanceUID
            assert ds.SOPInstanceUID not in {
                str(s["sop_instance_uid"]) for s in report["studies"][0]["slices"]
            }
            assert (ds.Manufacturer, ds.SoftwareVersions) == ("ICH Viewer", __version__)
            for kw in (
                "PatientName",
                "PatientID",
                "PatientBirthDate",
                "PatientSex",
                "StudyDate",
                "StudyTime",
                "AccessionNumber",
                "StudyID",
                "StudyDescription",
                "ReferringPhysicianName",
            ):
                assert ds.get(kw) == src.get(kw), kw
            assert path.parent.parent == out / src.StudyInstanceUID
        assert len({pydicom.dcmread(p).SeriesInstanceUID for p in res.files}) == 3

    def test_nothing_flagged_gives_a_negative_report_only(self, tmp_path):
        src = demo_files()[0].parent
        report = fake_report([src], flag=())
        report["studies"][0]["study_flagged"] = False
        (res,) = write_dicom_results(report, [src], tmp_path)
        assert res.sr is not None and res.kos is None and res.sc == []
        sr = pydicom.dcmread(res.sr)
        assert sr_image_references(sr) == []
        assert ("Finding", "No intracranial hemorrhage flagged by AI") in sr_values(sr)


class TestKeyObjects:
    def test_selects_the_flagged_slices(self, written):
        report, res, _ = written
        kos = pydicom.dcmread(res.kos)
        assert kos.SOPClassUID == KeyObjectSelectionDocumentStorage
        assert kos.ConceptNameCodeSequence[0].CodeValue == "113000"  # Of Interest
        assert sorted(sr_image_references(kos)) == sorted(report["studies"][0]["flagged"])


class TestSecondaryCaptures:
    def test_one_capture_per_flagged_slice_heatmap_burned_in(self, written):
        report, res, _ = written
        flagged = report["studies"][0]["flagged"]
        assert len(res.sc) == len(flagged)
        sources = []
        for path in res.sc:
            ds = pydicom.dcmread(path)
            assert ds.BurnedInAnnotation == "YES"
            assert NOT_FOR_DIAGNOSTIC_USE in ds.ImageComments
            assert ds.PhotometricInterpretation == "RGB"
            sources.append(ds.SourceImageSequence[0].ReferencedSOPInstanceUID)
            img = ds.pixel_array
            assert img.shape == (512, 512, 3)
        assert sources == flagged
        with_map = pydicom.dcmread(res.sc[0]).pixel_array.astype(int)
        centre = with_map[200:312, 200:312]
        assert (np.abs(centre[..., 0] - centre[..., 2]) > 30).mean() > 0.3  # colour, not grey

    def test_the_warning_is_drawn_on_the_image(self):
        hu = np.full((64, 64), 40.0, np.float32)
        plain, scale = burn_in(hu, None, [])
        assert scale == 8 and plain.shape == (512, 512, 3)
        red = (plain[..., 0] > 200) & (plain[..., 1] < 120)
        assert red[:40].any() and red[-40:].any()  # top and bottom lines


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools (dciodvfy) not installed")
class TestDciodvfy:
    def test_sr_kos_and_sc_validate_without_errors(self, written):
        _, res, _ = written
        for path in res.files:
            run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
            out = run.stdout + run.stderr
            errors = [ln for ln in out.splitlines() if ln.startswith("Error")]
            assert not errors, f"{path.name}:\n{out}"
            # Only warnings left: our local coding scheme 99ICHV is not in dciodvfy's list.
            warnings = {ln for ln in out.splitlines() if ln.startswith("Warning")}
            assert warnings <= {
                "Warning - Unrecognized defined term <99ICHV> for value 1 of attribute "
                "<Coding Scheme Designator>"
            }, out
