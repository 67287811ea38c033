"""The plain-value entries of a checkpoint, checked the same way on writing and reading:
operating thresholds, the series-context stage (version 2) and the ``inference`` and
``study`` entries (version 3); see :mod:`ichviewer.ai.checkpoint` for the file format.

No torch here: these are dicts, lists and numbers. The checks of the network itself (its
architecture and weights) stay with the reader in :mod:`ichviewer.ai.checkpoint`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ichviewer.core.labels import LABELS
from ichviewer.core.slice_context import SliceContext
from ichviewer.errors import ModelLoadError


def thresholds_dict(
    thresholds: Mapping[str, float] | Sequence[float] | np.ndarray,
) -> dict[str, float]:
    """Six operating thresholds (a label mapping or a sequence in LABELS order) as a
    label -> float dict; ValueError names a missing label or a value outside [0, 1]."""
    if isinstance(thresholds, Mapping):
        missing = [lb for lb in LABELS if lb not in thresholds]
        if missing:
            raise ValueError(f"thresholds lack label(s) {', '.join(missing)}")
        out = {lb: float(thresholds[lb]) for lb in LABELS}
    else:
        values = [float(t) for t in thresholds]
        if len(values) != len(LABELS):
            raise ValueError(f"thresholds must have {len(LABELS)} values, got {len(values)}")
        out = dict(zip(LABELS, values, strict=True))
    for lb, t in out.items():
        if not (math.isfinite(t) and 0.0 <= t <= 1.0):
            raise ValueError(f"threshold of {lb} must be in [0, 1], got {t}")
    return out


def parse_thresholds(name: str, value: Any) -> dict[str, float]:
    """The file's ``thresholds`` entry; ModelLoadError (naming the file ``name``) if bad."""
    try:
        return thresholds_dict(value)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: thresholds are invalid: {exc}") from None


def parse_context(
    name: str, obj: Mapping[str, Any]
) -> tuple[SliceContext | None, dict[str, float] | None]:
    """(series-context stage, the network's own thresholds) of a version-2 file, or
    (None, None) when it has no ``slice_context`` entry."""
    raw = obj.get("slice_context")
    if raw is None:
        return None, None
    if obj.get("version") == 1:
        raise ModelLoadError(f"{name}: slice_context needs checkpoint version 2, file says 1")
    try:
        context = SliceContext.from_dict(raw)
    except ValueError as exc:
        raise ModelLoadError(f"{name}: {exc}") from None
    if "slice_thresholds" not in raw:
        raise ModelLoadError(f"{name}: slice_context lacks slice_thresholds")
    try:
        slice_thr = thresholds_dict(raw["slice_thresholds"])
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: slice_context slice_thresholds are invalid: {exc}") from None
    return context, slice_thr


def parse_v3(name: str, obj: Mapping[str, Any]) -> tuple[bool, float | None, str]:
    """(mirror_average, study threshold, study rule) of a version-3 file."""
    inference, study = obj.get("inference"), obj.get("study")
    if (inference is not None or study is not None) and obj.get("version") != 3:
        raise ModelLoadError(
            f"{name}: 'inference' and 'study' entries need checkpoint version 3, file says "
            f"{obj.get('version')!r}"
        )
    mirror = False
    if inference is not None:
        if not isinstance(inference, Mapping):
            raise ModelLoadError(f"{name}: inference must be a dict")
        mirror = inference.get("mirror_average", False)
        if not isinstance(mirror, bool):
            raise ModelLoadError(f"{name}: inference.mirror_average must be true or false")
    threshold, rule = None, ""
    if study is not None:
        t = study.get("threshold") if isinstance(study, Mapping) else None
        if (
            isinstance(t, bool)
            or not isinstance(t, (int, float))
            or not (math.isfinite(t) and 0.0 <= t <= 1.0)
        ):
            raise ModelLoadError(f"{name}: study.threshold must be a number in [0, 1]")
        threshold, rule = float(t), str(study.get("rule", ""))
    return mirror, threshold, rule
