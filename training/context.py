"""Fit the viewer's series-context stage (ichviewer.core.slice_context) on a split's outputs.

The network scores each slice alone; the stage revises a slice's six probabilities with the
network's on the slices a few mm above and below it (a logistic regression per label, on
logits). It is fitted on the *validation* split's network outputs, never the training
split's (those are over-confident) or the test split's, with L-BFGS on the RSNA-weighted
binary cross-entropy plus a small L2 penalty. The maths of the features and of applying the
stage is ichviewer's; this module only fits the weights and groups slices by series.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from ichviewer.core.labels import LABELS, RSNA_LOSS_WEIGHTS
from ichviewer.core.slice_context import (
    SliceContext,
    context_features,
    identity_context,
    n_features,
)
from training.options import (
    CONTEXT_LABELS,
    DEFAULT_CONTEXT_L2,
    DEFAULT_CONTEXT_LABELS,
)
from training.options import DEFAULT_CONTEXT_MM as DEFAULT_DISTANCES_MM

logger = logging.getLogger("training")


def own_label_mask(distances_mm: Sequence[float]) -> np.ndarray:
    """(6, n_features) 1 where a weight links a label to its own features, else 0 (the
    features are blocks of 6, one per label: own logit, then mean and max per distance)."""
    return np.tile(np.eye(len(LABELS)), (1, n_features(distances_mm) // len(LABELS)))


def series_groups(series: Sequence[str]) -> list[np.ndarray]:
    """Indices of each series' slices, in order of first appearance."""
    keys = np.asarray(series)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return [np.flatnonzero(inverse == g) for g in np.argsort(first)]


def split_features(
    probabilities: np.ndarray,
    series: Sequence[str],
    positions_mm: Sequence[float],
    distances_mm: Sequence[float],
) -> np.ndarray:
    """The stage's inputs for slices of many series (each series' context stays its own)."""
    p = np.asarray(probabilities, dtype=np.float64)
    pos = np.asarray(positions_mm, dtype=np.float64)
    out = np.full((len(p), 6 * (1 + 2 * len(distances_mm))), np.nan)
    for idx in series_groups(series):
        out[idx] = context_features(p[idx], pos[idx], distances_mm)
    return out


def apply_by_series(
    context: SliceContext,
    probabilities: np.ndarray,
    series: Sequence[str],
    positions_mm: Sequence[float],
) -> np.ndarray:
    """:meth:`SliceContext.apply` on every series of a split; (N, 6) float32."""
    p = np.asarray(probabilities, dtype=np.float32)
    pos = np.asarray(positions_mm, dtype=np.float64)
    out = np.full(p.shape, np.nan, dtype=np.float32)
    for idx in series_groups(series):
        out[idx] = context.apply(p[idx], pos[idx])
    return out


def fit_context(
    probabilities: np.ndarray,
    labels: np.ndarray,
    series: Sequence[str],
    positions_mm: Sequence[float],
    distances_mm: Sequence[float] = DEFAULT_DISTANCES_MM,
    l2: float = DEFAULT_CONTEXT_L2,
    max_iter: int = 500,
    labels_seen: str = DEFAULT_CONTEXT_LABELS,
) -> SliceContext:
    """Weights of the stage that best predict ``labels`` (N, 6) from the network's
    ``probabilities`` (N, 6) of the same slices, grouped by ``series`` and placed by
    ``positions_mm``. Starts from the identity (p' = p), so a split too small to learn
    from changes little. ``labels_seen="own"`` (the default) holds each label's weights on
    the other labels' features at 0: a label is revised by its own logits along the series
    only, not by how the synthetic subtypes happen to occur together (a generator's habit,
    not a scanner's). ``"all"`` lets every label's row see every label's features."""
    x_np = split_features(probabilities, series, positions_mm, distances_mm)
    y_np = np.asarray(labels, dtype=np.float64)
    if x_np.shape[0] != y_np.shape[0] or y_np.shape[1:] != (len(LABELS),):
        raise ValueError(f"labels must be ({x_np.shape[0]}, {len(LABELS)}), got {y_np.shape}")
    if x_np.shape[0] == 0:
        raise ValueError("no slices to fit the series context on")
    if labels_seen not in CONTEXT_LABELS:
        raise ValueError(
            f"labels_seen must be one of {', '.join(CONTEXT_LABELS)}, got {labels_seen!r}"
        )
    start = identity_context(distances_mm)
    mask = torch.from_numpy(
        own_label_mask(distances_mm) if labels_seen == "own" else np.ones_like(start.weight)
    )
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    w = torch.tensor(start.weight, requires_grad=True)
    b = torch.tensor(start.bias, requires_grad=True)
    lw = torch.tensor(RSNA_LOSS_WEIGHTS, dtype=torch.float64)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        wm = w * mask
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            x @ wm.T + b, y, reduction="none"
        ).mean(0)
        loss = (bce * lw).sum() / lw.sum() + l2 * (wm**2).sum()
        loss.backward()
        return loss

    loss = float(opt.step(closure).detach())
    ctx = SliceContext(tuple(distances_mm), (w * mask).detach().numpy(), b.detach().numpy())
    logger.info(
        "series context fitted on %d slices (distances %s mm, L2 %g, %s labels' features): "
        "loss %.4f",
        len(x_np),
        "/".join(f"{d:g}" for d in distances_mm),
        l2,
        labels_seen,
        loss,
    )
    return ctx
