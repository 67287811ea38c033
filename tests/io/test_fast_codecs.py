"""imagecodecs decoding (ichviewer.io.fast_codecs): used only where it is bit for bit
pydicom's result, and never the reason a file fails to load."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from ichviewer.io import SeriesReader, fast_codecs, scan
from tests.conftest import realct

TS = "CTImage.dcm_{}TransferSyntax_{}.dcm"
COMPRESSED = [
    ("JPEGProcess14", "1.2.840.10008.1.2.4.57"),
    ("JPEGProcess14SV1", "1.2.840.10008.1.2.4.70"),
    ("JPEGLSLossless", "1.2.840.10008.1.2.4.80"),
    ("JPEGLSLossy", "1.2.840.10008.1.2.4.81"),
    ("JPEG2000LosslessOnly", "1.2.840.10008.1.2.4.90"),
    ("JPEG2000", "1.2.840.10008.1.2.4.91"),
]


@pytest.fixture(autouse=True)
def fresh_state():
    """Each test sees an unverified, freshly probed set of codecs."""
    fast_codecs._verified.clear()
    fast_codecs._codecs.clear()
    yield
    fast_codecs._verified.clear()
    fast_codecs._codecs.clear()


def _file(name: str, uid: str):
    return realct("transfer_syntaxes") / TS.format(name, uid)


@pytest.mark.skipif(not fast_codecs.available("1.2.840.10008.1.2.4.70"), reason="no imagecodecs")
class TestFastCodecs:
    @pytest.mark.parametrize(("name", "uid"), COMPRESSED, ids=[n for n, _ in COMPRESSED])
    def test_real_ct_matches_pydicom_bit_for_bit(self, name, uid):
        ds = pydicom.dcmread(_file(name, uid))
        first = fast_codecs.decode_frame(ds, 0, uid)  # checked against pydicom
        second = fast_codecs.decode_frame(ds, 0, uid)  # from imagecodecs alone
        assert [v for k, v in fast_codecs._verified.items() if k[0] == uid] == [True]
        assert second.dtype == ds.pixel_array.dtype
        np.testing.assert_array_equal(second, ds.pixel_array)
        np.testing.assert_array_equal(first, second)

    def test_a_decoder_that_disagrees_is_dropped_for_that_format(self, monkeypatch):
        uid = "1.2.840.10008.1.2.4.70"
        ds = pydicom.dcmread(_file("JPEGProcess14SV1", uid))
        import imagecodecs

        monkeypatch.setitem(
            fast_codecs._codecs, "jpeg8", lambda b: imagecodecs.jpeg8_decode(b) ^ np.uint16(1)
        )
        # The first frame comes from pydicom (right), and the format is marked...
        np.testing.assert_array_equal(fast_codecs.decode_frame(ds, 0, uid), ds.pixel_array)
        # ...so later frames are left to pydicom, and the series still loads right.
        assert fast_codecs.decode_frame(ds, 0, uid) is None
        (s,) = scan(_file("JPEGProcess14SV1", uid)).series
        (ref,) = scan(realct("transfer_syntaxes") / "CTImage.dcm").series
        np.testing.assert_array_equal(SeriesReader(s).slice(0), SeriesReader(ref).slice(0))

    def test_a_damaged_file_gets_pydicoms_clear_error_and_the_format_stays_fast(self, tmp_path):
        uid = "1.2.840.10008.1.2.4.70"
        ds = pydicom.dcmread(_file("JPEGProcess14SV1", uid))
        data = bytes(ds.PixelData)
        sof = data.find(b"\xff\xc3")  # zero the frame header's precision and size
        ds.PixelData = data[: sof + 4] + b"\x00" * 4 + data[sof + 8 :]
        bad = tmp_path / "bad.dcm"
        ds.save_as(bad)
        (s,) = scan(bad).series
        reader = SeriesReader(s)
        reader.slice(0)  # never raises: the slice is air and the error names the file
        (err,) = reader.errors
        assert err.file.endswith("bad.dcm") and "cannot decode pixel data" in err.error
        assert reader.failed[0] and np.all(reader.slice(0) == -1024)
        # one damaged file does not turn the fast decoder off for the format
        good = pydicom.dcmread(_file("JPEGProcess14SV1", uid))
        fast_codecs.decode_frame(good, 0, uid)
        assert list(fast_codecs._verified.values()) == [True]

    def test_without_imagecodecs_pydicom_decodes(self, monkeypatch):
        uid = "1.2.840.10008.1.2.4.80"
        for name in ("jpeg8", "jpegls", "jpeg2k"):
            monkeypatch.setitem(fast_codecs._codecs, name, None)
        assert not fast_codecs.available(uid)
        ds = pydicom.dcmread(_file("JPEGLSLossless", uid))
        assert fast_codecs.decode_frame(ds, 0, uid) is None
        (s,) = scan(_file("JPEGLSLossless", uid)).series
        (ref,) = scan(realct("transfer_syntaxes") / "CTImage.dcm").series
        np.testing.assert_array_equal(SeriesReader(s).slice(0), SeriesReader(ref).slice(0))


class TestStoredValues:
    def test_signed_12_bit_samples_are_sign_extended(self):
        # A decoder hands back 12-bit two's complement as unsigned 16-bit samples.
        raw = np.array([[0x0FFF, 0x0800, 0x07FF, 0x0000]], np.uint16)
        out = fast_codecs._as_stored(raw, 16, 12, signed=True)
        assert out.dtype == np.int16
        assert out.tolist() == [[-1, -2048, 2047, 0]]

    def test_unsigned_bits_above_bits_stored_are_masked(self):
        raw = np.array([[0xF123]], np.uint16)
        out = fast_codecs._as_stored(raw, 16, 12, signed=False)
        assert out.dtype == np.uint16 and out.tolist() == [[0x0123]]
