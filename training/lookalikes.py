"""Bright or dark things in the head that are not blood: calcifications (choroid plexus,
pineal, falx, pallidum) and beam-hardening streaks at the skull base. They are drawn in
negative and positive studies alike, so a model must learn a hemorrhage's shape and place,
not just its brightness. Painted after the lesions and never into the lesion mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.anatomy import Ell, Head, pair
from training.phantom import SliceMaps


@dataclass
class LookAlikes:
    """Bright or dark things that are not blood."""

    calcs: list[tuple[Ell, float]]
    streaks: list[tuple[float, float, float, float, float, float]]


def sample_lookalikes(
    rng: np.random.Generator, head: Head, parts: dict[str, list[Ell]]
) -> LookAlikes:
    """Calcified choroid plexus, pineal, falx, pallidum; beam hardening at the skull base."""
    H, A, B = head.H, head.A, head.B
    calcs: list[tuple[Ell, float]] = []
    if rng.random() < 0.6:
        for e in parts["atria"][: 2 if rng.random() < 0.8 else 1]:
            r = rng.uniform(1.5, 3.5)
            calcs.append(
                (
                    Ell(
                        e.cx * rng.uniform(0.9, 1.1),
                        e.cy + rng.uniform(-2, 4),
                        e.cz + rng.uniform(-3, 3),
                        r,
                        r * 1.3,
                        r,
                    ),
                    rng.uniform(120, 350),
                )
            )
    if rng.random() < 0.5:
        e, r = parts["pineal"][0], rng.uniform(1.2, 3.5)
        calcs.append((Ell(e.cx, e.cy, e.cz, r, r, r), rng.uniform(100, 300)))
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            calcs.append(
                (
                    Ell(
                        rng.uniform(-0.4, 0.4),
                        rng.uniform(-0.6, 0.6) * B,
                        rng.uniform(0.55, 0.85) * H,
                        rng.uniform(0.8, 1.6),
                        rng.uniform(3, 9),
                        rng.uniform(2, 6),
                    ),
                    rng.uniform(150, 600),
                )
            )
    if rng.random() < 0.1:
        r = rng.uniform(2, 3.5)
        for e in pair(Ell(0.3 * A, -0.05 * B, 0.43 * H, r, r * 1.5, r)):
            calcs.append((e, rng.uniform(90, 200)))
    streaks = []
    for _ in range(int(rng.integers(2, 7))):
        z0 = rng.uniform(0.05, 0.25) * H
        streaks.append(
            (
                rng.uniform(-0.35, 0.35),
                rng.uniform(0.0, 0.35) * B,
                rng.choice([-1, 1]) * rng.uniform(5, 16),
                rng.uniform(0.6, 1.8),
                z0,
                z0 + rng.uniform(5, 15),
            )
        )
    if rng.random() < 0.7:  # broad dark band between the petrous bones
        streaks.append(
            (
                rng.uniform(-0.1, 0.1),
                rng.uniform(0.05, 0.2) * B,
                -rng.uniform(12, 25),
                rng.uniform(3, 5),
                0.1 * H,
                0.24 * H,
            )
        )
    return LookAlikes(calcs, streaks)


def paint_lookalikes(m: SliceMaps, look: LookAlikes) -> None:
    """Paint calcifications and streaks into m.hu (never into the lesion mask)."""
    g = m.grid
    for e, hu in look.calcs:
        g.paint(m.hu, [e], m.z, hu, where=m.cavity)
    for ang, y0, amp, sig, z0, z1 in look.streaks:
        if z0 <= m.z <= z1:
            d = np.abs(-g.X * math.sin(ang) + (g.Y - y0) * math.cos(ang))
            along = g.X * math.cos(ang) + (g.Y - y0) * math.sin(ang)
            w = amp * np.exp(-((d / sig) ** 2) - (along / 40) ** 2)
            m.hu[m.cavity] += w[m.cavity]
