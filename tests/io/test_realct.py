"""The loader on real CT nobody here made (../shared/data/realct)."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from ichviewer.core.constants import AIR_HU
from ichviewer.io import SeriesReader, scan
from tests.conftest import realct

pytestmark = pytest.mark.realct


def naive_hu(path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return np.maximum(apply_modality_lut(ds.pixel_array, ds).astype(np.float32), AIR_HU)


class TestGeHead:
    def test_one_series_sorted_inferior_to_superior_with_tilt(self):
        result = scan(realct("ge_head"))
        assert result.errors == []
        (s,) = result.series
        assert s.n_slices == 28
        assert s.sorted_by == "position"
        assert s.tilt_deg == pytest.approx(18.5, abs=0.1)
        pos = [x.position_mm for x in s.slices]
        assert pos == sorted(pos)
        # files 01..28 are numbered from the bottom up
        assert [int(x.source[-6:-4]) for x in s.slices] == list(range(1, 29))

    def test_uneven_spacing_is_reported(self):
        (s,) = scan(realct("ge_head")).series
        assert not s.uniform_spacing
        assert min(s.gaps_mm) < 4.1 and max(s.gaps_mm) > 6.9
        assert s.description == "HEAD"  # no SeriesDescription: falls back to body part

    def test_shuffled_copies_sort_the_same(self, tmp_path):
        src = sorted(realct("ge_head").glob("*.dcm"))
        names = [f"x{random.Random(1).random()}_{i}" for i in range(len(src))]
        random.Random(7).shuffle(names)
        for p, name in zip(src, names, strict=True):  # no extension, shuffled names
            shutil.copy(p, tmp_path / name)
        (a,) = scan(realct("ge_head")).series
        (b,) = scan(tmp_path).series
        assert [x.sop_instance_uid for x in a.slices] == [x.sop_instance_uid for x in b.slices]

    def test_hu_equals_pydicom_modality_lut(self):
        (s,) = scan(realct("ge_head")).series
        vol = SeriesReader(s).load_all()
        for i in (0, 13, 27):
            np.testing.assert_array_equal(vol[i], naive_hu(s.slices[i].source))
        assert vol.dtype == np.float32


class TestRsnaSamples:
    def test_every_file_loads_with_its_odd_uid(self):
        result = scan(realct("rsna_samples"))
        assert result.errors == []
        assert len(result.series) == 20
        uids = {s.slices[0].sop_instance_uid for s in result.series}
        assert all(u.startswith("ID_") for u in uids)

    def test_hu_matches_pydicom_and_padding_becomes_air(self):
        for s in scan(realct("rsna_samples")).series:
            path = s.slices[0].source
            hu = SeriesReader(s).slice(0)
            np.testing.assert_array_equal(hu, naive_hu(path), err_msg=path)
            assert hu.min() >= AIR_HU
            ds = pydicom.dcmread(path)
            if ds.PixelRepresentation == 1 and ds.pixel_array.min() == -2000:
                # -2000 padding would be -3024 HU: it reads as air
                assert hu.min() == AIR_HU

    def test_twelve_bit_unsigned_files_give_brain_hu(self):
        checked = 0
        for s in scan(realct("rsna_samples")).series:
            ds = pydicom.dcmread(s.slices[0].source, stop_before_pixels=True)
            if ds.BitsStored == 12 and ds.PixelRepresentation == 0:
                hu = SeriesReader(s).slice(0)
                assert hu.min() >= -1024 and hu.max() < 3072
                checked += 1
        assert checked >= 3


TS = "CTImage.dcm_{}TransferSyntax_{}.dcm"
LOSSLESS = [
    ("LittleEndianImplicit", "1.2.840.10008.1.2"),
    ("LittleEndianExplicit", "1.2.840.10008.1.2.1"),
    ("BigEndianExplicit", "1.2.840.10008.1.2.2"),
    ("DeflatedExplicitVRLittleEndian", "1.2.840.10008.1.2.1.99"),
    ("JPEGProcess14", "1.2.840.10008.1.2.4.57"),
    ("JPEGProcess14SV1", "1.2.840.10008.1.2.4.70"),
    ("JPEGLSLossless", "1.2.840.10008.1.2.4.80"),
    ("JPEG2000LosslessOnly", "1.2.840.10008.1.2.4.90"),
    ("RLELossless", "1.2.840.10008.1.2.5"),
]


class TestTransferSyntaxes:
    @pytest.mark.parametrize(("name", "uid"), LOSSLESS, ids=[n for n, _ in LOSSLESS])
    def test_lossless_gives_same_hu_as_uncompressed(self, name, uid):
        folder = realct("transfer_syntaxes")
        (ref,) = scan(folder / "CTImage.dcm").series
        (enc,) = scan(folder / TS.format(name, uid)).series
        assert enc.slices[0].transfer_syntax == uid
        np.testing.assert_array_equal(SeriesReader(enc).slice(0), SeriesReader(ref).slice(0))

    @pytest.mark.parametrize(
        ("name", "uid"),
        [
            ("JPEGProcess6_8", "1.2.840.10008.1.2.4.53"),
            ("JPEGProcess10_12", "1.2.840.10008.1.2.4.55"),
        ],
    )
    def test_undecodable_syntax_is_a_clear_error(self, name, uid):
        path = realct("transfer_syntaxes") / TS.format(name, uid)
        result = scan(path)
        assert result.series == []
        (err,) = result.errors
        assert err.file.endswith(path.name)
        assert "(0002,0010)" in err.error and "cannot be decoded" in err.error

    def test_whole_folder_loads_what_it_can_and_names_the_rest(self):
        result = scan(realct("transfer_syntaxes"))
        assert sum(s.n_slices for s in result.series) >= 2
        named = " ".join(e.file for e in result.errors)
        assert "Process6_8" in named and "Process10_12" in named

    def test_j2k_head_slice(self):
        (s,) = scan(realct("transfer_syntaxes") / "CT2_J2KR").series
        hu = SeriesReader(s).slice(0)
        np.testing.assert_array_equal(hu, naive_hu(s.slices[0].source))
