"""Synthetic studies the generator tests share."""

from __future__ import annotations

import numpy as np

from training.synthetic import SyntheticStudy, _generate


def painted(seed: int, index: int = 0, **kw) -> SyntheticStudy:
    """A study as the anatomy and lesions are painted, before the simulated scan
    (training.ctsim, tested on its own): what the pixel-exact tests look at."""
    kw.setdefault("n_slices", None)
    kw.setdefault("lesion_types", None)
    kw.setdefault("p_negative", 0.5)
    kw.setdefault("pitched", False)
    kw.setdefault("thin", False)
    return _generate(seed, index, scanner=False, **kw)


def skull_centre(img: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of the bone on a slice."""
    ys, xs = np.nonzero(img > 500)
    return float(ys.mean()), float(xs.mean())
