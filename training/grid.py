"""The pixel grid a phantom plane is drawn on, and the per-plane helpers the drawing uses:
the deformed head-frame coordinates of every pixel and the sections of the anatomy's
ellipsoids on it (:class:`Grid`), smooth random fields, zero-crossing lines, distances to
a mask's edge in mm, and the bounding box of a mask (to compute only where it matters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from training.anatomy import Ell


@dataclass
class Grid:
    """Deformed head-frame coordinates (mm) of every pixel of one slice."""

    n: int
    ps: float
    X: np.ndarray
    Y: np.ndarray
    margin: float

    def section(self, e: Ell, z: float) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Bounding box and normalised radius^2 q of e's section (q < 1 inside)."""
        k = e.k(z)
        if k <= 0.0:
            return None
        r = max(e.a, e.b) * k + self.margin
        lo_c = max(int((e.cx - r) / self.ps + self.n / 2), 0)
        hi_c = min(int((e.cx + r) / self.ps + self.n / 2) + 2, self.n)
        lo_r = max(int((e.cy - r) / self.ps + self.n / 2), 0)
        hi_r = min(int((e.cy + r) / self.ps + self.n / 2) + 2, self.n)
        if lo_c >= hi_c or lo_r >= hi_r:
            return None
        sl = (slice(lo_r, hi_r), slice(lo_c, hi_c))
        x = self.X[sl] - e.cx
        y = self.Y[sl] - e.cy
        if e.ang:
            c, s = math.cos(e.ang), math.sin(e.ang)
            x, y = c * x + s * y, -s * x + c * y
        return sl, (x / (e.a * k)) ** 2 + (y / (e.b * k)) ** 2

    def mask(self, parts: list[Ell], z: float, out: np.ndarray | None = None) -> np.ndarray:
        """Union of the sections of ``parts``."""
        m = np.zeros((self.n, self.n), bool) if out is None else out
        for e in parts:
            s = self.section(e, z)
            if s is not None:
                m[s[0]] |= s[1] < 1.0
        return m

    def paint(
        self,
        img: np.ndarray,
        parts: list[Ell],
        z: float,
        value: float,
        where: np.ndarray | None = None,
    ) -> None:
        """Set ``img`` to value inside the sections (and inside ``where`` if given)."""
        for e in parts:
            s = self.section(e, z)
            if s is None:
                continue
            inside = s[1] < 1.0
            if where is not None:
                inside &= where[s[0]]
            img[s[0]][inside] = value


def smooth_noise(rng: np.random.Generator, low: tuple[int, int], n: int) -> np.ndarray:
    """Unit-variance smooth random field of n x n from a low x low grid (cubic)."""
    a = rng.standard_normal(low).astype(np.float32)
    a /= a.std() + 1e-6
    return cv2.resize(a, (n, n), interpolation=cv2.INTER_CUBIC)


def zero_lines(f: np.ndarray) -> np.ndarray:
    """Pixels where f changes sign to a right or lower neighbour (1-pixel lines)."""
    s = f > 0
    line = np.zeros(f.shape, bool)
    line[:, :-1] |= s[:, :-1] != s[:, 1:]
    line[:-1, :] |= s[:-1, :] != s[1:, :]
    return line


def dist_mm(mask: np.ndarray, ps: float) -> np.ndarray:
    """Distance (mm) of every pixel inside ``mask`` to the nearest pixel outside."""
    return np.minimum(cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5), 1e4) * ps


def pixel_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice] | None:
    """The bounding box of ``mask``'s pixels grown by ``pad`` (within the image), or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, h)),
        slice(max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, w)),
    )
