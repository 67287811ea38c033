"""Attribute values from a header that may be damaged, read without surprises.

A file's own values are never repeated in a message unless they are defined terms
(:func:`shown_code`): they may hold patient data. A numeric attribute that is present but
cannot be read, or is out of range, refuses the file with a :class:`DicomReadError` naming
the tag; a descriptive one (:func:`optional_int`, :func:`finite_floats`) reads as absent.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydicom.dataset import Dataset

from ichviewer.errors import DicomReadError

#: Defined terms are quoted in messages; anything else from a file is never repeated.
_CODE = re.compile(r"^[A-Z0-9_ ]{1,16}$")


def shown_code(value: str) -> str:
    """``value`` quoted for a message when it is a defined term, else a placeholder."""
    return f"'{value}'" if _CODE.match(value) else "not a defined term (value not shown)"


def element_value(ds: Dataset, kw: str) -> Any:
    """An element's value, None when absent, empty or unparseable (a bit flip in its VR or
    length); never raises."""
    try:
        v = ds.get(kw)
    except Exception:  # pydicom converts raw elements lazily and may raise anything here
        return None
    return None if v is None or (isinstance(v, str) and not v.strip()) else v


def number_value(ds: Dataset, kw: str, tag: str, name: str) -> Any:
    """The raw value of a numeric attribute; None when absent; refuses the file when the
    element is there but cannot be read (a bit flip in its VR or length)."""
    v = element_value(ds, kw)
    if v is None and kw in ds:
        raise DicomReadError(name, f"{tag} {kw} cannot be read as a number")
    return v


def checked_int(ds: Dataset, kw: str, tag: str, name: str, default: int, lo: int, hi: int) -> int:
    """An integer attribute, checked: a bad one refuses the file, naming the tag."""
    v = number_value(ds, kw, tag, name)
    if v is None:
        return default
    try:
        out = int(v)
    except (TypeError, ValueError, OverflowError):
        raise DicomReadError(name, f"{tag} {kw} is not a whole number") from None
    if not lo <= out <= hi:
        raise DicomReadError(name, f"{tag} {kw} is {out}; it must be between {lo} and {hi}")
    return out


def checked_float(
    ds: Dataset, kw: str, tag: str, name: str, default: float, limit: float, nonzero: bool = False
) -> float:
    """A real attribute, checked finite and within +-limit (and not 0 when ``nonzero``)."""
    return checked_real(
        number_value(ds, kw, tag, name), f"{tag} {kw}", name, default, limit, nonzero
    )


def checked_real(
    v: Any, what: str, name: str, default: float, limit: float, nonzero: bool
) -> float:
    """:func:`checked_float`'s check of a raw value (None: ``default``); ``what`` names it."""
    if v is None:
        return default
    try:
        out = float(first_value(v))
    except (TypeError, ValueError, OverflowError):
        raise DicomReadError(name, f"{what} is not a number") from None
    if not math.isfinite(out) or abs(out) > limit or (nonzero and out == 0.0):
        bad = "not finite" if not math.isfinite(out) else ("0" if out == 0.0 else f"{out:g}")
        bound = f"a non-zero number within +-{limit:g}" if nonzero else f"within +-{limit:g}"
        raise DicomReadError(name, f"{what} is {bad}; it must be {bound}")
    return out


def optional_int(ds: Dataset, kw: str) -> int | None:
    """A whole number that only describes (InstanceNumber, SeriesNumber): None when absent
    or unreadable, never a refusal."""
    try:
        return int(element_value(ds, kw))
    except (TypeError, ValueError, OverflowError):
        return None


def finite_floats(value: Any, n: int) -> tuple[float, ...] | None:
    """n finite numbers, else None (treated as absent: a NaN position sorts nothing)."""
    try:
        out = tuple(float(v) for v in value)
    except Exception:  # None, text, a damaged element: absent
        return None
    return out if len(out) == n and all(math.isfinite(v) for v in out) else None


def first_value(value: Any) -> Any:
    """First item of a multi-valued element (RSNA stores WindowCenter as [36, 36])."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value
