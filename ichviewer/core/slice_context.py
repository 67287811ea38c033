"""Series context: a slice's probabilities revised with those of the slices around it.

Pure numpy. A hemorrhage is a 3-D thing: the thin bleed at the top or bottom edge of a
hematoma is hard to see on its own slice and easy to believe when the slice 5 mm away holds
the bulk of it (the RSNA 2019 winners' second stage did this over whole series). The stage is
a per-label logistic regression on the network's logits of the slice itself and of the
series at fixed *distances in mm* along the slice normal, so a 1 mm and a 5 mm series see the
same anatomy around a slice:

    x_i = [z(p_i), mean(z(p_i - d), z(p_i + d)), max(z(p_i - d), z(p_i + d)) for d in D]
    p'_i = sigmoid(W x_i + b)

``z`` is the logit; ``z(p)`` at a position between slices is linearly interpolated over the
slices scored so far and held at the end slices beyond the series (np.interp). Mean and max of
the two sides make the stage blind to which way a series runs (head-first or feet-first).
The weights are fitted by ``training`` on the validation split's network outputs and stored
in the checkpoint (ichviewer.ai.checkpoint); the viewer, the triage command and training's
evaluation all call :meth:`SliceContext.apply`.

A slice with no scored slice within the largest distance of it (a series of one slice, or
the first slice scored) gets the same stage with every neighbour equal to itself: a
recalibration of its own logit. That is also what the viewer shows until its neighbours are
scored, a moment later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ichviewer.core.labels import LABELS

#: Probabilities are clipped to [EPS, 1 - EPS] before the logit (p = 0 or 1 from float32).
EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) in float64, with p clipped to [EPS, 1 - EPS]."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(q) - np.log1p(-q)


def n_features(distances_mm: Sequence[float]) -> int:
    """Inputs per slice: the slice's own logits plus mean and max per distance."""
    return len(LABELS) * (1 + 2 * len(distances_mm))


def context_features(
    probabilities: np.ndarray, positions_mm: Sequence[float], distances_mm: Sequence[float]
) -> np.ndarray:
    """(N, n_features) inputs of the stage for one series; rows of unscored (NaN) slices are NaN.

    ``positions_mm`` are the slices' positions along the normal, in any order (they are
    sorted here); a series without usable positions (non-finite) falls back to 5 mm steps
    in the given order.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(LABELS):
        raise ValueError(f"probabilities must be (N, {len(LABELS)}), got {p.shape}")
    pos = np.asarray(positions_mm, dtype=np.float64).reshape(-1)
    if pos.shape[0] != p.shape[0]:
        raise ValueError(f"{pos.shape[0]} positions for {p.shape[0]} slices")
    if not np.isfinite(pos).all():
        pos = 5.0 * np.arange(len(pos), dtype=np.float64)
    out = np.full((len(p), n_features(distances_mm)), np.nan)
    scored = np.flatnonzero(~np.isnan(p).any(axis=1))
    if len(scored) == 0:
        return out
    order = scored[np.argsort(pos[scored], kind="stable")]
    xp, z = pos[order], logit(p[order])
    cols = [z]
    for d in distances_mm:
        up = np.stack([np.interp(xp + d, xp, z[:, c]) for c in range(z.shape[1])], axis=1)
        down = np.stack([np.interp(xp - d, xp, z[:, c]) for c in range(z.shape[1])], axis=1)
        cols += [(up + down) / 2.0, np.maximum(up, down)]
    out[order] = np.concatenate(cols, axis=1)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


@dataclass(frozen=True)
class SliceContext:
    """The fitted stage: distances (mm), weight (6, n_features) and bias (6,)."""

    distances_mm: tuple[float, ...]
    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self) -> None:
        d = tuple(float(x) for x in self.distances_mm)
        if not d or not all(math.isfinite(x) and x > 0 for x in d):
            raise ValueError(f"distances_mm must be positive numbers, got {list(d)}")
        w = np.asarray(self.weight, dtype=np.float64)
        b = np.asarray(self.bias, dtype=np.float64).reshape(-1)
        if w.shape != (len(LABELS), n_features(d)):
            raise ValueError(
                f"weight must be ({len(LABELS)}, {n_features(d)}) for {len(d)} distance(s), "
                f"got {w.shape}"
            )
        if b.shape != (len(LABELS),):
            raise ValueError(f"bias must have {len(LABELS)} values, got {b.shape}")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError("weight and bias must be finite")
        object.__setattr__(self, "distances_mm", d)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def reach_mm(self) -> float:
        """How far along the series a slice's revised probability looks."""
        return max(self.distances_mm)

    def apply(self, probabilities: np.ndarray, positions_mm: Sequence[float]) -> np.ndarray:
        """Revised float32 (N, 6) probabilities of one series; unscored rows stay NaN."""
        x = context_features(probabilities, positions_mm, self.distances_mm)
        out = np.full((len(x), len(LABELS)), np.nan, dtype=np.float32)
        ok = ~np.isnan(x).any(axis=1)
        out[ok] = _sigmoid(x[ok] @ self.weight.T + self.bias).astype(np.float32)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain types (lists of floats) for a checkpoint or a JSON file."""
        return {
            "distances_mm": list(self.distances_mm),
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SliceContext:
        """Inverse of :meth:`to_dict`; a ValueError names the field that is wrong."""
        if not isinstance(d, Mapping):
            raise ValueError(f"slice_context must be a dict, got {type(d).__name__}")
        missing = [k for k in ("distances_mm", "weight", "bias") if k not in d]
        if missing:
            raise ValueError(f"slice_context lacks {', '.join(missing)}")
        try:
            return cls(
                tuple(float(x) for x in d["distances_mm"]),
                np.asarray(d["weight"], dtype=np.float64),
                np.asarray(d["bias"], dtype=np.float64),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"slice_context: {exc}") from None


def identity_context(distances_mm: Sequence[float] = (5.0, 10.0)) -> SliceContext:
    """A stage that changes nothing: p' = p (the slice's own logit, weight 1)."""
    d = tuple(float(x) for x in distances_mm)
    w = np.zeros((len(LABELS), n_features(d)))
    w[np.arange(len(LABELS)), np.arange(len(LABELS))] = 1.0
    return SliceContext(d, w, np.zeros(len(LABELS)))
