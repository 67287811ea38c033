"""Writing synthetic studies: DICOM series, the labels CSV, the synth CLI, the committed demo."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from ichviewer.core.labels import LABELS
from training.demo import DEMO_COMMAND
from training.synthetic import generate_study, image_ids, synth, write_labels_csv, write_study

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


def _read_hu(paths: list[Path]) -> tuple[np.ndarray, list[pydicom.Dataset]]:
    dss = [pydicom.dcmread(p) for p in paths]
    return np.stack([apply_modality_lut(ds.pixel_array, ds) for ds in dss]), dss


class TestWriteStudy:
    def test_series_files_give_back_the_same_hu(self, tmp_path):
        s = generate_study(6, 0, size=128, n_slices=6, lesion_types=["subdural"])
        paths = write_study(s, tmp_path)
        assert [p.name for p in paths] == [f"{i:04d}.dcm" for i in range(1, 7)]
        hu, dss = _read_hu(paths)
        assert np.array_equal(hu, s.hu)
        ds = dss[0]
        assert ds.Modality == "CT" and ds.BodyPartExamined == "HEAD"
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert "SYNTHETIC" in ds.SeriesDescription and str(ds.PatientName).startswith("PHANTOM^")
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert (ds.BitsAllocated, ds.PixelRepresentation) == (16, 0)
        assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (-1024, 1)
        assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40, 80)
        assert float(ds.PixelSpacing[0]) == pytest.approx(s.pixel_spacing, abs=1e-5)
        assert [d.SOPInstanceUID for d in dss] == s.uids["sop_uids"]
        assert [int(d.InstanceNumber) for d in dss] == list(range(1, 7))
        assert [float(d.ImagePositionPatient[2]) for d in dss] == pytest.approx(list(s.z_mm))
        assert len({d.SeriesInstanceUID for d in dss}) == 1

    @pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # RSNA IDs, on purpose
    def test_rsna_layout_names_files_by_id(self, tmp_path):
        s = generate_study(6, 1, size=64, n_slices=4)
        paths = write_study(s, tmp_path, layout="rsna")
        for p, ds in zip(paths, _read_hu(paths)[1], strict=True):
            assert re.fullmatch(r"ID_[0-9a-f]{10}", p.stem)
            assert ds.SOPInstanceUID == p.stem
            assert re.fullmatch(r"ID_[0-9a-f]{10}", ds.StudyInstanceUID)
            assert re.fullmatch(r"ID_[0-9a-f]{10}", ds.SeriesInstanceUID)
            assert re.fullmatch(r"ID_[0-9a-f]{8}", ds.PatientID)

    def test_signed_padding_and_rle_give_back_the_same_hu(self, tmp_path):
        s = next(
            st
            for i in range(40)
            if (st := generate_study(1, i, size=64, n_slices=3)).hu.min() < -1024
        )
        assert s.hu.min() == -3024  # outside the scan circle, like RSNA's -2000 stored
        paths = write_study(s, tmp_path / "a")
        hu, dss = _read_hu(paths)
        assert dss[0].PixelRepresentation == 1 and np.array_equal(hu, s.hu)
        paths = write_study(s, tmp_path / "b", compress=True)
        hu, dss = _read_hu(paths)
        assert dss[0].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
        assert np.array_equal(hu, s.hu)

    def test_unknown_layout_is_refused(self, tmp_path):
        s = generate_study(0, size=64, n_slices=2)
        with pytest.raises(ValueError, match="layout"):
            write_study(s, tmp_path, layout="nifti")


class TestWriteLabelsCsv:
    def test_rsna_long_format(self, tmp_path):
        path = tmp_path / "x.csv"
        write_labels_csv([("ID_a", np.array([1, 0, 0, 0, 0, 1])), ("ID_b", np.zeros(6))], path)
        rows = list(csv.reader(path.open()))
        assert rows[0] == ["ID", "Label"]
        assert [r[0] for r in rows[1:7]] == [f"ID_a_{n}" for n in LABELS]
        assert [r[1] for r in rows[1:]] == ["1", "0", "0", "0", "0", "1"] + ["0"] * 6

    def test_wrong_label_count_is_refused_and_leaves_no_file(self, tmp_path):
        with pytest.raises(ValueError, match="ID_a"):
            write_labels_csv([("ID_a", np.zeros(5))], tmp_path / "x.csv")
        assert list(tmp_path.iterdir()) == []


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))[1:]


class TestSynthAndCli:
    def test_cli_writes_series_and_labels(self, tmp_path):
        out = tmp_path / "set"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "training",
                "synth",
                "--out",
                str(out),
                "--studies",
                "2",
                "--size",
                "128",
                "--seed",
                "5",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        rows = _csv_rows(out / "labels.csv")
        files = sorted(out.glob("000[01]/*.dcm"))
        assert len(rows) == 6 * len(files) and len(files) >= 48
        sops = {"ID_" + pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
        assert {r[0].rsplit("_", 1)[0] for r in rows} == sops
        assert [r[0].rsplit("_", 1)[1] for r in rows[:6]] == list(LABELS)

    def test_rsna_layout_and_workers_give_the_same_set(self, tmp_path):
        a = synth(tmp_path / "a", 2, 9, layout="rsna", size=64, workers=1)
        b = synth(tmp_path / "b", 2, 9, layout="rsna", size=64, workers=2)
        assert a.name == "stage_2_train.csv" and a.read_text() == b.read_text()
        stems = {p.stem for p in (tmp_path / "a" / "stage_2_train").glob("*.dcm")}
        assert {r[0].rsplit("_", 1)[0] for r in _csv_rows(a)} == stems
        for p in (tmp_path / "a" / "stage_2_train").glob("*.dcm"):
            assert p.read_bytes() == (tmp_path / "b" / "stage_2_train" / p.name).read_bytes()

    def test_image_ids_follow_the_layout(self):
        s = generate_study(0, size=64, n_slices=2)
        assert image_ids(s) == ["ID_" + u for u in s.uids["sop_uids"]]
        assert image_ids(s, "rsna") == s.uids["rsna"]["sop_uids"]


class TestCommittedDemo:
    def test_demo_is_small_labelled_and_consistent(self):
        files = sorted((DEMO / "series").glob("*.dcm"))
        assert files, "run: " + DEMO_COMMAND
        total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
        assert total < 8_000_000
        assert [p.name for p in files] == [f"{i:04d}.dcm" for i in range(1, len(files) + 1)]
        npz = np.load(DEMO / "masks.npz")
        masks, sops = npz["masks"], list(npz["sop_uids"])
        dss = [pydicom.dcmread(p) for p in files]
        assert [d.SOPInstanceUID for d in dss] == sops
        assert dss[0].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"  # RLE Lossless
        labels = {}
        for ident, v in _csv_rows(DEMO / "labels.csv"):
            img, name = ident.rsplit("_", 1)
            labels.setdefault(img, {})[name] = int(v)
        y = np.array([[labels["ID_" + s][n] for n in LABELS] for s in sops])
        for i in range(5):
            assert np.array_equal(y[:, i].astype(bool), ((masks & (1 << i)) > 0).any(axis=(1, 2)))
        assert (y[:, :5].any(axis=0)).sum() >= 3
        hu = apply_modality_lut(dss[len(dss) // 2].pixel_array, dss[len(dss) // 2])
        assert hu.shape == masks.shape[1:] == (512, 512)
        readme = (DEMO / "README.md").read_text()
        assert "synthetic" in readme.lower() and DEMO_COMMAND in readme
