"""Discovery, grouping, sorting and refusals on hand-built files."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless

from ichviewer.io import SeriesReader, scan
from ichviewer.io.pixels import needs_rsna_fix, to_hu
from tests.dicom_factory import ct_dataset, write_series


def snapshot(folder):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


class TestDiscovery:
    def test_recursive_with_and_without_extension(self, tmp_path):
        write_series(tmp_path / "a" / "b", n=3, names=["one", "two.dcm", "THREE.DCM"])
        (s,) = scan(tmp_path).series
        assert s.n_slices == 3

    def test_list_of_files(self, tmp_path):
        paths = write_series(tmp_path, n=5)
        (s,) = scan([paths[0], paths[3]]).series
        assert s.n_slices == 2

    def test_zip_is_read_without_extracting(self, tmp_path):
        paths = write_series(tmp_path / "src", n=4)
        archive = tmp_path / "study.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for p in paths:
                zf.write(p, f"DICOM/{p.name}")
        before = set(tmp_path.rglob("*"))
        (s,) = scan(archive).series
        assert s.n_slices == 4
        assert s.slices[0].source.startswith(str(archive) + "!")
        np.testing.assert_array_equal(SeriesReader(s).load_all()[:, 0, 0], [0, 10, 20, 30])
        assert set(tmp_path.rglob("*")) == before

    def test_dicomdir_is_ignored(self, tmp_path):
        write_series(tmp_path, n=2)
        (tmp_path / "DICOMDIR").write_bytes(b"\0" * 200)
        result = scan(tmp_path)
        assert result.errors == [] and result.series[0].n_slices == 2

    def test_missing_path_is_reported(self, tmp_path):
        result = scan(tmp_path / "nope")
        assert result.series == [] and "no such file" in result.errors[0].error

    def test_scanning_and_loading_never_write_into_the_study(self, tmp_path):
        write_series(tmp_path, n=4)
        before = snapshot(tmp_path)
        result = scan(tmp_path)
        SeriesReader(result.series[0]).load_all()
        assert snapshot(tmp_path) == before


class TestSorting:
    def test_position_beats_instance_number_and_file_order(self, tmp_path):
        # Instance numbers run backwards against position; names are shuffled.
        for i, name in enumerate(["c", "a", "d", "b"]):
            ds = ct_dataset(np.full((8, 8), 10.0 * i), z=5.0 * i, instance=10 - i)
            ds.save_as(tmp_path / name, enforce_file_format=True)
        (s,) = scan(tmp_path).series
        assert s.sorted_by == "position"
        np.testing.assert_array_equal(SeriesReader(s).load_all()[:, 0, 0], [0, 10, 20, 30])
        assert [x.position_mm for x in s.slices] == [0.0, 5.0, 10.0, 15.0]

    def test_instance_number_fallback_without_positions(self, tmp_path):
        for i, name in enumerate(["c", "a", "d", "b"]):
            ds = ct_dataset(np.full((8, 8), 10.0 * i), instance=i + 1)
            del ds.ImagePositionPatient
            ds.save_as(tmp_path / name, enforce_file_format=True)
        (s,) = scan(tmp_path).series
        assert s.sorted_by == "instance_number"
        np.testing.assert_array_equal(SeriesReader(s).load_all()[:, 0, 0], [0, 10, 20, 30])

    def test_positions_in_mm_for_the_series_context(self, tmp_path):
        """Positions the AI's series context measures distances with: real mm when the
        files say where they are, else slice order x SliceThickness."""
        with_pos, without = tmp_path / "a", tmp_path / "b"
        for i in range(4):
            ds = ct_dataset(np.full((8, 8), 10.0), z=-2.5 * i, instance=i + 1)
            with_pos.mkdir(exist_ok=True)
            ds.save_as(with_pos / f"{i}.dcm", enforce_file_format=True)
            ds = ct_dataset(np.full((8, 8), 10.0), instance=10 + 7 * i)  # numbers 10, 17...
            del ds.ImagePositionPatient
            ds.SliceThickness = 2.5
            without.mkdir(exist_ok=True)
            ds.save_as(without / f"{i}.dcm", enforce_file_format=True)
        (s,) = scan(with_pos).series
        assert s.positions_mm == [-7.5, -5.0, -2.5, 0.0]
        (s,) = scan(without).series
        assert s.sorted_by == "instance_number"
        assert [x.position_mm for x in s.slices] == [10.0, 17.0, 24.0, 31.0]  # not mm
        assert s.positions_mm == [0.0, 2.5, 5.0, 7.5]

    def test_two_series_in_one_folder(self, tmp_path):
        write_series(tmp_path, n=3, series_uid="1.2.3.1", description="HEAD 5mm")
        write_series(
            tmp_path,
            n=5,
            series_uid="1.2.3.2",
            description="HEAD 1mm",
            gap=1.0,
            names=[f"thin{i}" for i in range(5)],
        )
        result = scan(tmp_path)
        assert sorted(s.n_slices for s in result.series) == [3, 5]
        assert {s.description for s in result.series} == {"HEAD 5mm", "HEAD 1mm"}
        assert "5 slices" in next(s for s in result.series if s.n_slices == 5).label


def _save(ds: Dataset, path) -> None:
    ds.save_as(path, enforce_file_format=True)


class TestBadInput:
    @pytest.fixture
    def folder(self, tmp_path):
        write_series(tmp_path, n=4)
        base = ct_dataset(np.zeros((16, 16)), z=100.0, instance=99)
        (tmp_path / "notes.dcm").write_text("this is not DICOM at all")
        raw = (tmp_path / "slice000.dcm").read_bytes()
        (tmp_path / "truncated.dcm").write_bytes(raw[: len(raw) - 700])
        mr = ct_dataset(np.zeros((16, 16)), modality="MR")
        _save(mr, tmp_path / "mr.dcm")
        sr = ct_dataset(np.zeros((16, 16)), modality="SR")
        del sr.PixelData
        _save(sr, tmp_path / "report.dcm")
        nopix = ct_dataset(np.zeros((16, 16)))
        del nopix.PixelData
        nopix.Modality = "CT"
        _save(nopix, tmp_path / "nopixels.dcm")
        norows = ct_dataset(np.zeros((16, 16)))
        del norows.Rows
        _save(norows, tmp_path / "norows.dcm")
        rgb = ct_dataset(np.zeros((16, 16)))
        rgb.SamplesPerPixel = 3
        rgb.PhotometricInterpretation = "RGB"
        _save(rgb, tmp_path / "colour.dcm")
        huge = ct_dataset(np.zeros((16, 16)))
        huge.NumberOfFrames = 100000
        huge.Rows = huge.Columns = 4096
        _save(huge, tmp_path / "huge.dcm")
        del base
        return tmp_path

    def test_good_slices_load_and_each_bad_file_gets_one_line(self, folder):
        result = scan(folder)
        (s,) = result.series
        assert s.n_slices == 4
        errs = {os.path.basename(e.file): e.error for e in result.errors}
        assert set(errs) == {
            "notes.dcm",
            "truncated.dcm",
            "mr.dcm",
            "report.dcm",
            "nopixels.dcm",
            "norows.dcm",
            "colour.dcm",
            "huge.dcm",
        }
        assert "not a DICOM file" in errs["notes.dcm"]
        assert "truncated" in errs["truncated.dcm"]
        assert "Modality is 'MR'" in errs["mr.dcm"]
        assert "Modality is 'SR'" in errs["report.dcm"]
        assert "(7FE0,0010) Pixel Data is missing" in errs["nopixels.dcm"]
        assert "(0028,0010) Rows is missing" in errs["norows.dcm"]
        assert "colour" in errs["colour.dcm"] and "RGB" in errs["colour.dcm"]
        assert "outside the accepted range" in errs["huge.dcm"]

    def test_corrupt_compressed_pixels_fail_at_decode_and_read_as_air(self, tmp_path):
        paths = write_series(tmp_path, n=3)
        ds = pydicom.dcmread(paths[1])
        ds.compress(RLELossless)
        ds.PixelData = ds.PixelData[:40]  # encapsulated but garbage
        ds.save_as(paths[1])
        (s,) = scan(tmp_path).series
        reader = SeriesReader(s)
        vol = reader.load_all()
        assert vol[0, 0, 0] == 0 and vol[2, 0, 0] == 20
        assert reader.failed.tolist() == [False, True, False]
        (err,) = reader.errors
        assert err.file.endswith(paths[1].name) and "cannot decode" in err.error

    def test_patient_identifiers_never_logged(self, folder, caplog):
        caplog.set_level("DEBUG", logger="ichviewer")
        scan(folder)
        assert "DOE" not in caplog.text and "SECRET-ID" not in caplog.text


class TestHu:
    def test_slope_and_intercept(self, tmp_path):
        ds = ct_dataset(np.array([[-1000.0, 0.0], [40.0, 1000.0]]), slope=0.5, intercept=-1024)
        _save(ds, tmp_path / "a.dcm")
        (s,) = scan(tmp_path).series
        np.testing.assert_array_equal(SeriesReader(s).slice(0), [[-1000, 0], [40, 1000]])

    def test_signed_padding_clamps_to_air(self, tmp_path):
        ds = ct_dataset(np.array([[-3024.0, 35.0]]), signed=True, intercept=-1024)
        _save(ds, tmp_path / "a.dcm")
        (s,) = scan(tmp_path).series
        assert SeriesReader(s).slice(0).tolist() == [[-1024.0, 35.0]]

    def test_rsna_bad_intercept_images_are_corrected(self, tmp_path):
        # Known RSNA 2019 defect: 12-bit unsigned, intercept ~1 instead of ~-1000, values
        # wrapped. Stored 3096 + 1000 wraps to 0 -> -1000 HU (air); 48 + 1000 -> 48 HU (brain).
        # Read as the viewer and training read it: a file, scan, SeriesReader.
        ds = ct_dataset(np.zeros((1, 2)), intercept=1)
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        ds.PixelData = np.array([[3096, 48]], dtype=np.uint16).tobytes()
        _save(ds, tmp_path / "a.dcm")
        (s,) = scan(tmp_path).series
        assert s.slices[0].layout is not None  # the fast native path, as for RSNA files
        assert SeriesReader(s).slice(0).tolist() == [[-1000.0, 48.0]]

    def test_rsna_fix_applies_only_to_the_broken_images(self):
        assert needs_rsna_fix(12, False, 1.0) and not needs_rsna_fix(12, False, -1024.0)
        assert not needs_rsna_fix(16, False, 1.0) and not needs_rsna_fix(12, True, 1.0)
        stored = np.array([[3096, 48]], dtype=np.uint16)
        assert to_hu(stored, 1.0, 1.0, bits_stored=12).tolist() == [[-1000.0, 48.0]]
        assert to_hu(stored, 1.0, -1024.0, bits_stored=12).tolist() == [[2072.0, -976.0]]

    def test_multiframe_one_frame_one_slice(self, tmp_path):
        frames = np.stack([np.full((8, 8), 100 + 10 * i, dtype=np.uint16) for i in range(5)])
        ds = ct_dataset(np.zeros((8, 8)))
        ds.NumberOfFrames = 5
        ds.PixelData = frames[::-1].tobytes()  # frames stored superior -> inferior
        groups = []
        for i in range(5):
            g = Dataset()
            pos = Dataset()
            pos.ImagePositionPatient = [-64.0, -64.0, 20.0 - 5.0 * i]
            g.PlanePositionSequence = [pos]
            groups.append(g)
        ds.PerFrameFunctionalGroupsSequence = groups
        _save(ds, tmp_path / "mf.dcm")
        (s,) = scan(tmp_path).series
        assert s.n_slices == 5
        assert [x.position_mm for x in s.slices] == [0.0, 5.0, 10.0, 15.0, 20.0]
        assert s.slices[0].sop_instance_uid.endswith("#5")
        vol = SeriesReader(s).load_all()
        np.testing.assert_array_equal(vol[:, 0, 0], [-924, -914, -904, -894, -884])
