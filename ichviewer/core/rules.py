"""Rules that several layers apply, each written once (numpy only, no Qt, no torch).

- :func:`outward_order`: which slice comes next when work starts from the one on screen
  (decoding a series, scoring it, moving the focus).
- :func:`fired_labels`: the labels of one slice at or above their operating thresholds
  (``p >= t``, the rule :func:`ichviewer.core.triage.flagged_mask` applies to a series).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_mask


def outward_order(center: int, n: int) -> list[int]:
    """``center``, ``center+1``, ``center-1``, ``center+2``, ... clipped to ``0..n-1``: the
    slice the user looks at first, then its neighbours. ``center`` is clamped."""
    if n <= 0:
        return []
    c = min(max(int(center), 0), n - 1)
    out = [c]
    for d in range(1, n):
        for i in (c + d, c - d):
            if 0 <= i < n:
                out.append(i)
        if len(out) == n:
            break
    return out


def fired_labels(probabilities: np.ndarray | None, thresholds: Sequence[float]) -> list[str]:
    """Labels (LABELS order) whose probability on one slice reaches its threshold; [] for
    an unscored slice (None or NaN)."""
    if probabilities is None:
        return []
    row = np.asarray(probabilities, dtype=np.float64).reshape(1, len(LABELS))
    fired = flagged_mask(row, thresholds)[0]
    return [lb for lb, f in zip(LABELS, fired, strict=True) if f]
