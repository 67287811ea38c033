"""Evaluation maths in numpy: ROC AUC with ties, the RSNA weighted log loss, operating points.

No sklearn: the package keeps its dependencies to what the viewer already ships. Every
function takes plain arrays: ``y`` (N,) or (N, C) in {0, 1} and ``p`` probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ichviewer.core.labels import LABELS, RSNA_LOSS_WEIGHTS
from training.options import DEFAULT_MIN_SPECIFICITY

#: Probabilities are clipped to [EPS, 1 - EPS] before logs (the RSNA challenge used 1e-15;
#: 1e-7 keeps a float32 model's saturated outputs from dominating the mean).
EPS = 1e-7


def _as_binary(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return y.astype(bool)


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with tied values sharing their average rank."""
    x = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Start of each run of equal values, and the mean rank of that run.
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks start+1 .. end, averaged
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg)); ties count one half.

    NaN when ``y`` holds a single class (the AUC is undefined, not 0.5).
    """
    y = _as_binary(y).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(p)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), one point per distinct score, from (0, 0) to (1, 1).

    A slice is called positive when ``p >= threshold``; the first threshold is +inf.
    """
    y = _as_binary(y).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # last index of each distinct score
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    n_pos, n_neg = max(int(y.sum()), 1), max(len(y) - int(y.sum()), 1)
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    return fpr, tpr, np.r_[np.inf, ps[last]]


def pr_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recall, precision, thresholds), one point per distinct score, highest threshold first."""
    y = _as_binary(y).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]
    tp = np.cumsum(ys)[last].astype(np.float64)
    called = (last + 1).astype(np.float64)
    recall = tp / max(int(y.sum()), 1)
    precision = tp / called
    return recall, precision, ps[last]


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the PR curve as the step sum over recall (sklearn's definition)."""
    y = _as_binary(y)
    if not y.any():
        return float("nan")
    recall, precision, _ = pr_curve(y, p)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy (natural log), probabilities clipped to [EPS, 1 - EPS]."""
    y = _as_binary(y).astype(np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def weighted_log_loss(
    y: np.ndarray, p: np.ndarray, weights: Sequence[float] = RSNA_LOSS_WEIGHTS
) -> float:
    """The RSNA 2019 metric: per-slice weighted mean of the six label log losses, averaged.

    ``y`` and ``p`` are (N, C) in LABELS order; ``any`` weighs 2, the subtypes 1.
    """
    y = _as_binary(y).astype(np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    w = np.asarray(weights, dtype=np.float64)
    if y.ndim != 2 or y.shape != p.shape or y.shape[1] != len(w):
        raise ValueError(f"y and p must both be (N, {len(w)}); got {y.shape} and {p.shape}")
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(np.mean(bce @ w / w.sum()))


@dataclass(frozen=True)
class OperatingPoint:
    """What a threshold does on one label: called positive when p >= threshold."""

    threshold: float
    sensitivity: float
    specificity: float
    ppv: float
    tp: int
    fp: int
    tn: int
    fn: int

    def as_dict(self) -> dict[str, float | int]:
        return {k: (_num(v)) for k, v in self.__dict__.items()}


def _num(v: float | int) -> float | int | None:
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN
    return v


def operating_point(y: np.ndarray, p: np.ndarray, threshold: float) -> OperatingPoint:
    """Sensitivity, specificity and PPV of the rule ``p >= threshold``."""
    y = _as_binary(y).ravel()
    call = np.asarray(p, dtype=np.float64).ravel() >= threshold
    tp = int(np.sum(call & y))
    fp = int(np.sum(call & ~y))
    fn = int(np.sum(~call & y))
    tn = int(np.sum(~call & ~y))
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    ppv = tp / (tp + fp) if tp + fp else float("nan")
    return OperatingPoint(float(threshold), sens, spec, ppv, tp, fp, tn, fn)


#: No operating threshold above this: when the validation positives of a label are scored
#: near 1.0 (few studies, a confident model), "the highest threshold reaching the
#: sensitivity" lands at 0.999 and misses most positives of new studies (seen: subdural at
#: 0.999 gave test sensitivity 0.05). "More likely than not" is always enough to flag.
MAX_THRESHOLD = 0.5


def choose_threshold(
    y: np.ndarray,
    p: np.ndarray,
    *,
    min_sensitivity: float | None = None,
    max_threshold: float = MAX_THRESHOLD,
    counted: np.ndarray | None = None,
    min_specificity: float | None = None,
) -> float:
    """A threshold chosen on validation data.

    With ``min_sensitivity``: the highest threshold whose sensitivity reaches it (fewest
    false alarms while missing at most 1 - min_sensitivity of the positives), but never
    above ``max_threshold``. ``min_specificity`` is a false-alarm budget that wins over the
    sensitivity: the threshold is raised, if need be, to the lowest one that keeps
    specificity >= min_specificity (still capped at ``max_threshold``).
    Without ``min_sensitivity``: Youden's J (max sensitivity + specificity - 1).
    With a single class in ``y`` it falls back to 0.5, as there is nothing to trade off.
    ``counted`` (bool per slice) names the positives whose sensitivity counts (say, those
    with enough blood to see); every negative counts.
    """
    y = _as_binary(y).ravel()
    p = np.asarray(p).ravel()
    if counted is not None:
        keep = ~y | np.asarray(counted, bool).ravel()
        if (y & keep).any():
            y, p = y[keep], p[keep]
    if y.all() or not y.any():
        return 0.5
    fpr, tpr, thr = roc_curve(y, p)
    fpr, tpr, thr = fpr[1:], tpr[1:], thr[1:]  # drop the +inf point
    if min_sensitivity is not None:
        ok = np.flatnonzero(tpr >= min_sensitivity - 1e-12)
        # Thresholds fall along the curve; the first that reaches it is the highest.
        t = float(thr[ok[0]])
        if min_specificity is not None:
            within = np.flatnonzero(1.0 - fpr >= min_specificity - 1e-12)
            # ... and the last within the budget is the lowest (the highest if none is).
            t = max(t, float(thr[within[-1]] if len(within) else thr[0]))
        return float(min(t, max_threshold))
    return float(thr[int(np.argmax(tpr - fpr))])


#: The operating rule documented in the model card: a missed bleed costs more than a
#: second look, so "any" keeps sensitivity >= 0.95; a subtype only names the kind of bleed
#: on a slice (the triage list is driven by "any"), so it keeps >= 0.80 and fires less often
#: on slices where another subtype is the real finding.
DEFAULT_MIN_SENSITIVITY: dict[str, float] = {
    "any": 0.95,
    **{name: 0.80 for name in LABELS[:-1]},
}


# The false-alarm budget, over the validation split's negative slices: no threshold flags
# more than 5 % of them, even when that costs the sensitivity above. It is the issue's own
# budget on real normal slices (at most 3 of 48, at most 5 % of a normal series) applied
# where thresholds are chosen: at 95 % sensitivity 'any' flagged about 20 % of the
# synthetic negatives (0.806 specificity on the test split), and a second read that flags
# every fifth normal slice is noise. DEFAULT_MIN_SPECIFICITY (0.95 of the negative slices
# unflagged) and STUDY_MIN_SPECIFICITY (0.90 of the negative studies) are eval's defaults,
# kept in training.options.

#: Sensitivity is counted on the slices where the bleed covers at least this much (mm^2):
#: the edge slices of a bleed, where a few mm^2 of it are averaged into the slab, score
#: low and should not set the threshold; a bleed is found on its larger slices, and the
#: study call and the series context carry it to its edges. (Measured on the bundled
#: model: 'any' 0.063 -> 0.076; most low-scoring validation positives are not faint.)
CONSPICUOUS_MM2 = 20.0


def choose_thresholds(
    y: np.ndarray,
    p: np.ndarray,
    min_sensitivity: dict[str, float] | None = None,
    counted: np.ndarray | None = None,
    min_specificity: float | None = DEFAULT_MIN_SPECIFICITY,
) -> dict[str, float]:
    """Per-label thresholds (label name -> threshold) for (N, 6) arrays in LABELS order;
    ``counted`` (N, 6) bool and ``min_specificity`` as in :func:`choose_threshold`."""
    rule = DEFAULT_MIN_SENSITIVITY if min_sensitivity is None else min_sensitivity
    return {
        name: choose_threshold(
            y[:, c],
            p[:, c],
            min_sensitivity=rule.get(name),
            counted=None if counted is None else counted[:, c],
            min_specificity=min_specificity,
        )
        for c, name in enumerate(LABELS)
    }


def summarize(
    y: np.ndarray, p: np.ndarray, thresholds: dict[str, float] | None = None
) -> dict[str, object]:
    """All metrics of one split as a JSON-ready dict: per-label AUC, AP, log loss, the
    operating point at ``thresholds`` (if given), prevalence, and the RSNA weighted log loss."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    per_label: dict[str, dict[str, object]] = {}
    for c, name in enumerate(LABELS):
        entry: dict[str, object] = {
            "auc": _num(roc_auc(y[:, c], p[:, c])),
            "average_precision": _num(average_precision(y[:, c], p[:, c])),
            "log_loss": _num(log_loss(y[:, c], p[:, c])),
            "n_positive": int(y[:, c].sum()),
        }
        if thresholds is not None and name in thresholds:
            entry["operating_point"] = operating_point(y[:, c], p[:, c], thresholds[name]).as_dict()
        per_label[name] = entry
    aucs = [v["auc"] for v in per_label.values() if v["auc"] is not None]
    return {
        "n_slices": int(len(y)),
        "weighted_log_loss": _num(weighted_log_loss(y, p)),
        "mean_auc": _num(float(np.mean(aucs))) if aucs else None,
        "labels": per_label,
    }


def study_scores(
    series: Sequence[str], y_any: np.ndarray, p_any: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) per series: positive when any slice is, scored by its largest
    P(any) (ichviewer.core.triage.study_probability)."""
    y_any, p_any = np.asarray(y_any).ravel(), np.asarray(p_any, np.float64).ravel()
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(series):
        groups.setdefault(s, []).append(i)
    idx = list(groups.values())
    return (
        np.array([int(y_any[i].max()) for i in idx]),
        np.array([float(p_any[i].max()) for i in idx]),
    )


#: The study-level threshold is never above this: a confident model puts every synthetic
#: positive study at 0.999+, and a threshold there would miss real bleeds the generator
#: never drew. 0.9 still asks a study for one slice the model is sure of.
MAX_STUDY_THRESHOLD = 0.9


def study_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, object]:
    """AUC and the operating point of per-study labels and scores."""
    return {
        "n_studies": int(len(y)),
        "n_positive": int(np.sum(y)),
        "auc": _num(roc_auc(y, p)),
        "operating_point": operating_point(y, p, threshold).as_dict(),
    }
