"""Rules that several layers apply, each written once (numpy only, no Qt, no torch).

- :func:`outward_order`: which slice comes next when work starts from the one on screen
  (decoding a series, scoring it, moving the focus).

The flagging rule (``p >= t``, and a subtype only where 'any' fires too) is
:func:`ichviewer.core.triage.flagged_mask` / :func:`ichviewer.core.triage.flagged_labels`.
"""

from __future__ import annotations


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
