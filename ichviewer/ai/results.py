"""What scoring one slice returns (plain numpy, safe to hand to any thread)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ichviewer.core.heatmap import normalise_map
from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_labels


@dataclass
class SliceResult:
    """Probabilities of one slice, and optionally its class activation maps.

    probabilities : float32[6] in LABELS order
    cams : raw CAMs (6, H, W) at the slice resolution, or None; see :meth:`cam` for [0, 1]
    from_cache : True when read from the result cache rather than computed now
    """

    probabilities: np.ndarray
    cams: np.ndarray | None = None
    from_cache: bool = False

    def as_dict(self) -> dict[str, float]:
        """label -> probability."""
        return {lb: float(p) for lb, p in zip(LABELS, self.probabilities, strict=True)}

    def flagged_labels(self, thresholds: np.ndarray | dict[str, float]) -> list[str]:
        """Labels whose probability reaches its operating threshold (core.triage's rule)."""
        if isinstance(thresholds, dict):
            thresholds = [thresholds[lb] for lb in LABELS]
        return flagged_labels(self.probabilities, thresholds)

    def cam(self, label: str, normalised: bool = True) -> np.ndarray:
        """The map of one label as float32, scaled to [0, 1] by its maximum unless told not to."""
        if self.cams is None:
            raise ValueError("this result was computed without CAMs (predict(..., want_cam=True))")
        m = self.cams[LABELS.index(label)].astype(np.float32)
        return normalise_map(m) if normalised else m


def stack_probabilities(results: Mapping[int, SliceResult], n: int) -> np.ndarray:
    """float32 (n, 6) of a series' results by slice index; NaN rows for slices not scored."""
    out = np.full((n, len(LABELS)), np.nan, dtype=np.float32)
    for i, res in results.items():
        out[i] = res.probabilities
    return out
