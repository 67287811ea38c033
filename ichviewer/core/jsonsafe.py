"""Strict JSON out of the app: never a bare NaN or Infinity token (invalid JSON that other
programs refuse). A non-finite number becomes null; what could not be measured says so."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite_or_none(obj: Any) -> Any:
    """A deep copy of ``obj`` with every non-finite float (and numpy scalar) as None."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """json.dumps that cannot write NaN or Infinity."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **kw)
