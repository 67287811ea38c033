"""Faster decoders for the compressed syntaxes real head CT comes in, from imagecodecs.

pydicom's decoders for JPEG lossless (gdcm, the only non-GPL one), JPEG-LS (CharLS through
pyjpegls) and JPEG 2000 (openjpeg) take 1.3-2.9x the CPU time of imagecodecs' builds of
libjpeg-turbo (which decodes lossless JPEG), CharLS and openjpeg on the same real 512 x 512
CT frames (``python tests/bench/bench_io.py --survey``). imagecodecs is BSD-3-Clause, as are
those three libraries.

Every (syntax, pixel format) is checked once per process: the first frame is decoded both
ways and must be bit for bit pydicom's result, sign handling included, or that format goes
back to pydicom for the rest of the session. Anything imagecodecs cannot do, or a missing
imagecodecs, falls back to pydicom too: this module only ever makes decoding faster.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ichviewer.io.stored_bits import keep_bits_stored

logger = logging.getLogger("ichviewer.io")

__all__ = ["CODEC_BY_SYNTAX", "available", "decode_frame"]

#: Transfer syntax UID -> imagecodecs codec name.
CODEC_BY_SYNTAX: dict[str, str] = {
    "1.2.840.10008.1.2.4.57": "jpeg8",  # JPEG lossless, process 14
    "1.2.840.10008.1.2.4.70": "jpeg8",  # JPEG lossless, process 14, selection value 1
    "1.2.840.10008.1.2.4.80": "jpegls",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "jpegls",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": "jpeg2k",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "jpeg2k",  # JPEG 2000
}

_lock = threading.Lock()
_codecs: dict[str, Callable[..., np.ndarray] | None] = {}
#: Pixel format -> whether imagecodecs matched pydicom on it (absent: not checked yet).
_verified: dict[tuple, bool] = {}


def _codec(name: str) -> Callable[..., np.ndarray] | None:
    if name not in _codecs:
        try:
            import imagecodecs

            fn = getattr(imagecodecs, f"{name}_decode")
            if not getattr(imagecodecs, name.upper()).available:
                fn = None
        except Exception:  # not installed, or a build without this codec
            fn = None
        _codecs[name] = fn
    return _codecs[name]


def available(transfer_syntax: str) -> bool:
    """Whether imagecodecs can be tried on this syntax."""
    name = CODEC_BY_SYNTAX.get(transfer_syntax)
    return name is not None and _codec(name) is not None


def _as_stored(arr: np.ndarray, bits_allocated: int, bits_stored: int, signed: bool) -> np.ndarray:
    """The decoder's samples as pydicom returns them: the DICOM dtype, with the bits above
    BitsStored masked (unsigned) or the sign extended from it (signed)."""
    nbytes = 1 if bits_allocated <= 8 else 2 if bits_allocated <= 16 else 4
    dtype = np.dtype(f"{'i' if signed else 'u'}{nbytes}")
    arr = arr.view(dtype) if arr.dtype.itemsize == nbytes else arr.astype(dtype)
    return keep_bits_stored(arr, bits_stored, signed)


def decode_frame(ds: Any, index: int, transfer_syntax: str) -> np.ndarray | None:
    """Frame ``index`` of a dataset whose pixel data are encapsulated, decoded by
    imagecodecs; None when imagecodecs is not to be used for it (the caller decodes with
    pydicom). The first frame of each pixel format is also decoded by pydicom and returned
    from there, after comparing."""
    name = CODEC_BY_SYNTAX.get(transfer_syntax)
    fn = _codec(name) if name else None
    if fn is None or int(ds.get("SamplesPerPixel", 1)) != 1:
        return None
    bits_allocated = int(ds.BitsAllocated)
    bits_stored = int(ds.get("BitsStored", bits_allocated))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    key = (transfer_syntax, bits_allocated, bits_stored, signed, str(ds.PhotometricInterpretation))
    with _lock:
        state = _verified.get(key)
    if state is False:
        return None
    from pydicom.encaps import get_frame

    try:
        frame = get_frame(ds.PixelData, index, number_of_frames=n_frames)
        arr = _as_stored(fn(frame), bits_allocated, bits_stored, signed)
        if arr.shape != (int(ds.Rows), int(ds.Columns)):
            raise ValueError(f"decoded shape {arr.shape}")
    except Exception as exc:  # a damaged file (pydicom gives the clear error) or a variant
        logger.debug("imagecodecs %s could not decode a frame (%s); using pydicom", name, exc)
        return None
    if state:
        return arr
    from pydicom.pixels import pixel_array

    ref = pixel_array(ds, index=index)
    same = ref.dtype == arr.dtype and np.array_equal(ref, arr)
    with _lock:
        _verified[key] = same
    if not same:
        logger.info("imagecodecs %s differs from pydicom on %s; using pydicom", name, key[1:])
    return ref
