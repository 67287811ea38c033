"""Decode a slice's pixels and convert them to float32 Hounsfield units."""

from __future__ import annotations

import numpy as np

from ichviewer.core.constants import AIR_HU
from ichviewer.errors import DicomReadError
from ichviewer.io import fast_codecs
from ichviewer.io.model import SliceRef
from ichviewer.io.sources import display_name, open_source
from ichviewer.io.stored_bits import keep_bits_stored

__all__ = ["AIR_HU", "decode_hu", "decode_stored", "decoding_plugin", "needs_rsna_fix", "to_hu"]


def needs_rsna_fix(bits_stored: int, signed: bool, intercept: float) -> bool:
    """The RSNA 2019 images whose 12-bit unsigned values wrapped and whose intercept is wrong.

    Known from the challenge: BitsStored 12, unsigned, and an intercept above -100 (should be
    about -1000). The fix below is the one the challenge community settled on.
    """
    return bits_stored == 12 and not signed and intercept > -100


def _rsna_fix(stored: np.ndarray) -> tuple[np.ndarray, float]:
    x = stored.astype(np.int32) + 1000
    x[x >= 4096] -= 4096
    return x, -1000.0


def to_hu(
    stored: np.ndarray,
    slope: float = 1.0,
    intercept: float = 0.0,
    *,
    bits_stored: int = 16,
    signed: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Stored values -> float32 HU, written into ``out`` when given: the only conversion.

    The modality LUT of every CT we read is linear (RescaleSlope, RescaleIntercept); it is
    done in float32 in place: the same values as pydicom's apply_modality_lut (tests compare
    them on real files), at a fraction of the memory traffic of its float64 result. RSNA's
    wrapped 12-bit images are fixed first (:func:`needs_rsna_fix`) and padding below air is
    clamped to air.
    """
    if needs_rsna_fix(bits_stored, signed, intercept):
        stored, intercept = _rsna_fix(stored)
    if out is None:
        out = np.empty(stored.shape, dtype=np.float32)
    np.copyto(out, stored, casting="unsafe")
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    np.maximum(out, np.float32(AIR_HU), out=out)
    return out


def _native(ref: SliceRef) -> np.ndarray:
    lay = ref.layout
    assert lay is not None
    dtype = np.dtype(lay.dtype)
    count = ref.rows * ref.columns
    with open(ref.source, "rb") as fh:
        fh.seek(lay.offset + ref.frame * lay.frame_bytes)
        buf = fh.read(lay.frame_bytes)
    if len(buf) < lay.frame_bytes:
        raise DicomReadError(ref.source, "(7FE0,0010) Pixel Data is truncated")
    arr = np.frombuffer(buf, dtype=dtype, count=count).reshape(ref.rows, ref.columns)
    return keep_bits_stored(arr, lay.bits_stored, lay.signed)


DEFLATED = "1.2.840.10008.1.2.1.99"

#: Decoder plugin tried first per transfer syntax, where pydicom's own first choice is slower
#: (measured on real 512 x 512 CT by tests/bench/bench_io.py --survey). pyjpegls (CharLS, MIT)
#: beats gdcm on JPEG-LS by ~30 % and releases the GIL; pylibjpeg-rle (MIT) beats pydicom's
#: numpy RLE decoder ~1.6x. JPEG lossless (process 14) has gdcm as its only non-GPL decoder and
#: JPEG 2000 runs as fast on gdcm as on openjpeg: pydicom's order is kept for those.
PREFERRED_PLUGIN = {
    "1.2.840.10008.1.2.4.80": "pyjpegls",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.5": "pylibjpeg",  # RLE lossless (pylibjpeg-rle)
}
_plugin_cache: dict[str, str] = {}


def decoding_plugin(transfer_syntax: str) -> str:
    """The pydicom decoding plugin to use for ``transfer_syntax`` ("" = pydicom's choice)."""
    if transfer_syntax not in _plugin_cache:
        name = PREFERRED_PLUGIN.get(transfer_syntax, "")
        if name:
            try:
                from pydicom.pixels.decoders.base import get_decoder

                if name not in get_decoder(transfer_syntax).available_plugins:
                    name = ""
            except Exception:  # an unknown syntax or an older pydicom: let pydicom choose
                name = ""
        _plugin_cache[transfer_syntax] = name
    return _plugin_cache[transfer_syntax]


def _general(ref: SliceRef) -> np.ndarray:
    import pydicom
    from pydicom.pixels import pixel_array

    if ref.transfer_syntax == DEFLATED:
        # pixel_array(path) does not inflate the dataset; a full read does.
        arr = pydicom.dcmread(open_source(ref.source)).pixel_array
        return arr[ref.frame] if arr.ndim == 3 else arr
    plugin = decoding_plugin(ref.transfer_syntax)
    if fast_codecs.available(ref.transfer_syntax):
        ds = pydicom.dcmread(open_source(ref.source))
        arr = fast_codecs.decode_frame(ds, ref.frame, ref.transfer_syntax)
        # pydicom decodes what imagecodecs may not, from the dataset already read
        return arr if arr is not None else pixel_array(ds, index=ref.frame, decoding_plugin=plugin)
    # Decodes only the requested frame of a multi-frame file.
    return pixel_array(open_source(ref.source), index=ref.frame, decoding_plugin=plugin)


def decode_stored(ref: SliceRef) -> np.ndarray:
    """Stored pixel values of one slice (fast path for uncompressed files)."""
    try:
        arr = _native(ref) if ref.layout is not None else _general(ref)
    except DicomReadError:
        raise
    except Exception as exc:  # decoders raise anything from ValueError to RuntimeError
        raise DicomReadError(display_name(ref.source), f"cannot decode pixel data ({exc})") from exc
    if arr.shape != (ref.rows, ref.columns):
        raise DicomReadError(
            display_name(ref.source),
            f"decoded pixels have shape {arr.shape}, header says {ref.rows} x {ref.columns}",
        )
    return arr


def decode_hu(ref: SliceRef, out: np.ndarray | None = None) -> np.ndarray:
    """One slice as float32 HU (H, W), written into ``out`` when given (:func:`to_hu`)."""
    return to_hu(
        decode_stored(ref),
        ref.slope,
        ref.intercept,
        bits_stored=ref.bits_stored,
        signed=ref.signed,
        out=out,
    )
