"""The one rule for the bits of a stored pixel value above BitsStored."""

from __future__ import annotations

import numpy as np


def keep_bits_stored(arr: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    """Stored values with the bits above BitsStored, which are not pixel data (overlays,
    garbage), masked off (unsigned) or replaced by the sign extended from BitsStored
    (signed), as pydicom does; ``arr`` is returned as it is when every bit is stored."""
    nbits = arr.dtype.itemsize * 8
    if bits_stored >= nbits:
        return arr
    shift = nbits - bits_stored
    if signed:
        return (arr << shift) >> shift
    return arr & arr.dtype.type((1 << bits_stored) - 1)
