"""Second-read triage rules: which slices the AI flags, in what order, and a study summary.

Pure numpy. Probabilities come as an (N, 6) array in LABELS order with NaN for slices not
scored yet; thresholds as six operating points. 'any' fires on a slice when P(any) reaches its
threshold (``p >= t``); a subtype fires when its own probability reaches its threshold *and*
'any' fires there: a subtype names the kind of bleed on a slice the model calls a bleed, so a
slice is never listed as "SAH" while the model says it holds no hemorrhage. :func:`flagged_mask`
is that rule, and every caller (engine, exports, marks, training's evaluation) uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ichviewer.core.labels import LABELS

ORDERS = ("probability", "position")
ANY = LABELS.index("any")


@dataclass(frozen=True)
class FlaggedSlice:
    """One flagged slice: its index, the labels that fired and the highest of their
    probabilities (the triage score)."""

    index: int
    labels: tuple[str, ...]
    score: float


def _as_arrays(probabilities: np.ndarray, thresholds: Sequence[float]) -> tuple[np.ndarray, ...]:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(LABELS):
        raise ValueError(f"probabilities must be (N, {len(LABELS)}), got {p.shape}")
    t = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if t.shape != (len(LABELS),):
        raise ValueError(f"thresholds must have {len(LABELS)} values, got {t.shape}")
    return p, t


def flagged_mask(probabilities: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """(N, 6) bool: label fired on slice; unscored (NaN) slices never fire, and a subtype
    fires only where 'any' fires too."""
    p, t = _as_arrays(probabilities, thresholds)
    with np.errstate(invalid="ignore"):
        fired = np.nan_to_num(p, nan=-1.0) >= t[None, :]
    fired &= fired[:, [ANY]]
    return fired


def flagged_labels(probabilities: Sequence[float], thresholds: Sequence[float]) -> list[str]:
    """The labels one slice (six probabilities, LABELS order) fires; NaN fires nothing."""
    fired = flagged_mask(
        np.reshape(np.asarray(probabilities, dtype=np.float64), (1, -1)), thresholds
    )
    return [lb for lb, f in zip(LABELS, fired[0], strict=True) if f]


def flagged_slices(
    probabilities: np.ndarray, thresholds: Sequence[float], order: str = "probability"
) -> list[FlaggedSlice]:
    """Slices where at least one label fired.

    ``order="probability"``: highest score first; ties (several slices at p = 1.00) by more
    labels fired, then by slice index. ``order="position"``: by slice index (inferior first).
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    p, _ = _as_arrays(probabilities, thresholds)
    mask = flagged_mask(p, thresholds)
    out = []
    for i in np.flatnonzero(mask.any(axis=1)):
        fired = mask[i]
        labels = tuple(lb for lb, f in zip(LABELS, fired, strict=True) if f)
        out.append(FlaggedSlice(int(i), labels, float(p[i][fired].max())))
    if order == "probability":
        out.sort(key=lambda f: (-f.score, -len(f.labels), f.index))
    return out


def step_flagged(flagged: Sequence[FlaggedSlice], current: int, step: int) -> int | None:
    """Slice index ``step`` places from ``current`` in the list's order, wrapping around.

    From a slice that is not in the list, +1 goes to the first entry and -1 to the last.
    None when nothing is flagged.
    """
    if not flagged:
        return None
    order = [f.index for f in flagged]
    if current in order:
        return order[(order.index(current) + step) % len(order)]
    return order[0] if step > 0 else order[-1]


@dataclass(frozen=True)
class StudySummary:
    """Highest probability (and where) per label, and how many slices are flagged."""

    n_slices: int
    n_scored: int
    n_flagged: int
    max_probability: dict[str, float | None]
    max_index: dict[str, int | None]
    flagged_by_label: dict[str, int]

    def line(self, names: Mapping[str, str] | None = None) -> str:
        """One line for the triage panel, e.g. 'Flagged 7/29 slices · max any 1.00, ...';
        ``names`` may shorten the label names (e.g. epidural -> EDH)."""
        if self.n_scored == 0:
            return f"Not scored yet ({self.n_slices} slices)"
        partial = (
            f" (scored {self.n_scored}/{self.n_slices})" if self.n_scored < self.n_slices else ""
        )
        names = names or {}
        maxima = ", ".join(
            f"{names.get(lb, lb)} {p:.2f}"
            for lb, p in self.max_probability.items()
            if p is not None
        )
        return f"Flagged {self.n_flagged}/{self.n_slices} slices{partial} · max {maxima}"


def study_summary(probabilities: np.ndarray, thresholds: Sequence[float]) -> StudySummary:
    """Summary of a (partly) scored study."""
    p, _ = _as_arrays(probabilities, thresholds)
    scored = ~np.isnan(p).any(axis=1)
    mask = flagged_mask(p, thresholds)
    max_p: dict[str, float | None] = {}
    max_i: dict[str, int | None] = {}
    for k, lb in enumerate(LABELS):
        if scored.any():
            col = np.where(scored, p[:, k], -np.inf)
            i = int(np.argmax(col))
            max_p[lb], max_i[lb] = float(col[i]), i
        else:
            max_p[lb], max_i[lb] = None, None
    return StudySummary(
        n_slices=int(p.shape[0]),
        n_scored=int(scored.sum()),
        n_flagged=int(mask.any(axis=1).sum()),
        max_probability=max_p,
        max_index=max_i,
        flagged_by_label={lb: int(mask[:, k].sum()) for k, lb in enumerate(LABELS)},
    )


@dataclass(frozen=True)
class StudyDecision:
    """The study-level call a triage worklist sorts and flags by.

    ``probability`` is P(any) for the study: the largest P(any) over its scored slices (what
    the viewer shows, series context included); None when nothing is scored. ``flagged``:
    it reaches ``threshold`` (the checkpoint's study-level operating point, else the slice
    threshold of 'any'). An out-of-scope study is never flagged.
    """

    probability: float | None
    threshold: float
    flagged: bool


def study_probability(probabilities: np.ndarray) -> float | None:
    """P(any) of a study: its largest scored P(any) (None when no slice is scored)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(LABELS):
        raise ValueError(f"probabilities must be (N, {len(LABELS)}), got {p.shape}")
    col = p[:, ANY]
    col = col[~np.isnan(col)]
    return float(col.max()) if col.size else None


def study_decision(
    probabilities: np.ndarray,
    threshold: float,
    in_scope: bool = True,
) -> StudyDecision:
    """:class:`StudyDecision` of (N, 6) probabilities (NaN rows: not scored)."""
    prob = study_probability(probabilities)
    flagged = bool(in_scope and prob is not None and prob >= threshold)
    return StudyDecision(prob, float(threshold), flagged)
