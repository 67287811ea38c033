"""Training data: RSNA CSV parsing, header index, patient splits, preprocessing cache."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from ichviewer.ai.preprocess import PreprocessSpec, preprocess
from ichviewer.core.labels import LABELS
from ichviewer.io import decode_hu
from training import cache as cache_mod
from training import data as data_mod
from training.cache import build_cache, encode_slice, normalize
from training.data import (
    index_headers,
    load_labelled,
    make_splits,
    read_labels,
    read_rsna_long,
    split_patients,
)
from training.synthetic import synth

BAD_ID = "ID_0badc0ffee"
#: What the hand-made 12-bit file holds once decoded: air, brain, blood, bone.
BAD_HU = np.array([-1000.0, 40.0, 70.0, 1000.0], dtype=np.float32)


def _bad_intercept_file(path: Path) -> np.ndarray:
    """An RSNA-style broken slice: 12-bit unsigned, values wrapped mod 4096, intercept 1."""
    hu = np.resize(BAD_HU, (32, 32)).astype(np.float32)
    stored = np.mod(hu.astype(np.int64), 4096).astype(np.uint16)  # air -1000 -> 3096
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.3.999"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = BAD_ID
    ds.StudyInstanceUID = "ID_badstudy"
    ds.SeriesInstanceUID = "ID_badseries"
    ds.PatientID = "ID_badpatient"
    ds.Modality = "CT"
    ds.ImagePositionPatient = [-16, -16, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = 1, 1
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return hu


@pytest.fixture(scope="module")
def rsna_folder(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Generator studies in the RSNA layout, plus a broken-intercept file and the duplicate
    rows the real stage_2_train.csv has."""
    root = tmp_path_factory.mktemp("rsna")
    csv_path = synth(root, 3, seed=5, layout="rsna", size=48)
    hu = _bad_intercept_file(root / "stage_2_train" / f"{BAD_ID}.dcm")
    with open(csv_path) as fh:
        rows = list(csv.reader(fh))
    rows += [[f"{BAD_ID}_{n}", "0"] for n in LABELS]
    rows += rows[1:4]  # exact duplicates
    rows += [[f"{BAD_ID}_subdural", "1"], [f"{BAD_ID}_any", "1"]]  # conflicting duplicates
    with open(csv_path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return root, hu


class TestReadRsnaLong:
    def test_duplicates_dropped_conflicts_positive(self, tmp_path, caplog):
        p = tmp_path / "stage_2_train.csv"
        lines = ["ID,Label"] + [f"ID_a_{n},0" for n in LABELS] + [f"ID_b_{n},0" for n in LABELS]
        lines += ["ID_a_epidural,0", "ID_b_any,1", "ID_c_any,1"]  # dup, conflict, incomplete
        p.write_text("\n".join(lines) + "\n")
        with caplog.at_level(logging.WARNING, logger="training"):
            table = read_rsna_long(p)
        assert table.duplicates == 2 and table.conflicts == 1 and table.incomplete == 1
        assert table.labels["ID_a"].tolist() == [0] * 6
        assert table.labels["ID_b"].tolist() == [0, 0, 0, 0, 0, 1]
        assert "ID_c" not in table.labels
        assert "duplicate rows" in caplog.text

    def test_bad_header_and_label_are_named(self, tmp_path):
        p = tmp_path / "x.csv"
        p.write_text("ID,Label\nID_a_bleed,1\n")
        with pytest.raises(ValueError, match="unknown label"):
            read_labels(p)
        p.write_text("foo,bar\n1,2\n")
        with pytest.raises(ValueError, match="key column"):
            read_labels(p)


class TestRsnaFolder:
    def test_labels_patients_and_duplicates(self, rsna_folder, tmp_path, caplog):
        root, _ = rsna_folder
        with caplog.at_level(logging.WARNING, logger="training"):
            data = load_labelled(root, tmp_path / "cache")
        n_files = len(list((root / "stage_2_train").glob("*.dcm")))
        assert len(data) == n_files  # every slice labelled, the stage_2_train folder only
        assert len(data.patients) == 4  # three studies + the broken file's patient
        assert "5 duplicate rows dropped (2 with conflicting values" in caplog.text
        bad = [i for i, e in enumerate(data.entries) if e.image_id == BAD_ID]
        assert data.labels[bad[0]].tolist() == [0, 0, 0, 0, 1, 1]
        assert not any(e.patient.startswith("ID_") for e in data.entries)  # hashed, not raw

    def test_bad_intercept_file_decodes_to_true_hu(self, rsna_folder, tmp_path):
        root, hu = rsna_folder
        data = load_labelled(root, tmp_path / "cache")
        ref = next(e.ref for e in data.entries if e.image_id == BAD_ID)
        np.testing.assert_array_equal(decode_hu(ref), hu)
        spec = PreprocessSpec(size=16)
        c = build_cache([ref], spec, tmp_path / "cache", workers=1)
        np.testing.assert_array_equal(c.open()[0], encode_slice(hu, spec))

    def test_header_index_is_cached_and_refreshed(self, rsna_folder, tmp_path, monkeypatch):
        root, _ = rsna_folder
        first = index_headers(root / "stage_2_train", tmp_path)
        monkeypatch.setattr(data_mod, "scan", lambda *a, **k: pytest.fail("re-scanned"))
        again = index_headers(root / "stage_2_train", tmp_path)
        assert [e.ref for e in again] == [e.ref for e in first]
        assert [e.patient for e in again] == [e.patient for e in first]

    def test_split_by_patient_has_no_overlap(self, rsna_folder, tmp_path):
        root, _ = rsna_folder
        splits = make_splits(load_labelled(root, tmp_path), (0.5, 0.25, 0.25), seed=3)
        seen = [s.patients for s in splits.values()]
        assert all(seen)  # four patients: none of the splits is empty
        assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
        assert sum(len(s) for s in splits.values()) == len(load_labelled(root, tmp_path))
        for s in splits.values():  # whole studies: a patient's slices never straddle splits
            for p in s.patients:
                assert all(e.patient in s.patients for e in s.entries if e.patient == p)

    def test_separate_test_set_must_not_share_patients(self, rsna_folder, tmp_path):
        root, _ = rsna_folder
        data = load_labelled(root, tmp_path)
        with pytest.raises(ValueError, match="also appear"):
            make_splits(data, test=data)


class TestSplitPatients:
    patients = [f"p{i}" for i in range(100)]

    def test_deterministic_complete_and_disjoint(self):
        a = split_patients(self.patients, (0.7, 0.2, 0.1), seed=1)
        assert a == split_patients(list(reversed(self.patients)), (0.7, 0.2, 0.1), seed=1)
        assert a != split_patients(self.patients, (0.7, 0.2, 0.1), seed=2)
        assert set(a) == set(self.patients)
        counts = {s: list(a.values()).count(s) for s in ("train", "val", "test")}
        assert counts == {"train": 70, "val": 20, "test": 10}

    def test_small_sets_still_get_val_and_test(self):
        a = split_patients(["x", "y", "z"], (0.8, 0.1, 0.1))
        assert sorted(a.values()) == ["test", "train", "val"]

    def test_rejects_bad_fractions(self):
        with pytest.raises(ValueError, match="fractions"):
            split_patients(self.patients, (1, -1, 0))


class TestPreprocessCache:
    @pytest.mark.parametrize("mode", ["linear", "sigmoid"])
    def test_dequantised_cache_matches_viewer_preprocess(self, rsna_folder, tmp_path, mode):
        root, _ = rsna_folder
        refs = [e.ref for e in load_labelled(root, tmp_path).entries][::7]
        spec = PreprocessSpec(size=32, mode=mode, mean=(0.2, 0.3, 0.4), std=(0.25, 0.3, 0.2))
        c = build_cache(refs, spec, tmp_path / "cache", workers=2)
        import torch

        cached = normalize(torch.from_numpy(np.array(c.open())), spec)
        viewer = torch.stack([preprocess(decode_hu(r), spec) for r in refs])
        assert cached.shape == viewer.shape == (len(refs), 3, 32, 32)
        assert cached.dtype == viewer.dtype == torch.float32
        # quantisation: half a uint8 step in [0, 1], divided by each channel's std
        tol = torch.tensor([0.5 / 255 / s for s in spec.std]).view(1, 3, 1, 1) + 1e-6
        assert bool(((cached - viewer).abs() <= tol).all())
        assert np.array(c.open()).std() > 0  # not a blank cache

    def test_reused_across_runs_and_keyed_by_spec(self, rsna_folder, tmp_path, monkeypatch):
        root, _ = rsna_folder
        refs = [e.ref for e in load_labelled(root, tmp_path).entries][:5]
        spec = PreprocessSpec(size=16)
        first = build_cache(refs, spec, tmp_path, workers=1)
        monkeypatch.setattr(cache_mod, "_encode_ref", lambda *a: pytest.fail("rebuilt"))
        assert build_cache(refs, spec, tmp_path, workers=1).path == first.path
        with pytest.raises(pytest.fail.Exception):
            build_cache(refs, PreprocessSpec(size=16, mode="sigmoid"), tmp_path, workers=1)
        with pytest.raises(pytest.fail.Exception):
            build_cache(refs[:4], spec, tmp_path, workers=1)

    def test_a_file_rewritten_in_place_is_read_again(self, rsna_folder, tmp_path):
        # A synthetic set regenerated by a changed generator keeps its names, UIDs and
        # sizes: the cache must not hand back the old pixels.
        import os

        import pydicom

        root, _ = rsna_folder
        refs = [e.ref for e in load_labelled(root, tmp_path).entries][:3]
        spec = PreprocessSpec(size=16)
        first = build_cache(refs, spec, tmp_path / "c", workers=1)
        before = np.array(first.open())
        path = refs[0].source
        ds = pydicom.dcmread(path)
        ds.PixelData = (ds.pixel_array // 2).astype(ds.pixel_array.dtype).tobytes()
        size = os.path.getsize(path)
        ds.save_as(path)
        assert os.path.getsize(path) == size  # same size: only the time stamp tells
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        second = build_cache(refs, spec, tmp_path / "c", workers=1)
        assert second.path != first.path
        after = np.array(second.open())
        assert not np.array_equal(after[0], before[0])
        assert np.array_equal(after[1:], before[1:])
