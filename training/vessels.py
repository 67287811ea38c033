"""Blood that is not a bleed: arteries in the cisterns and fissures, cortical veins and the
dural venous sinuses, drawn as tubes of flowing blood (40-58 HU, the blood pool's density).

On real non-contrast CT, and much more on thin slices, the basilar artery, the middle and
anterior cerebral arteries in the sylvian and interhemispheric fissures, the cortical veins
over the convexity and the transverse and sigmoid sinuses are all denser than brain. A
network that never saw them takes any bright tube in the CSF for subarachnoid blood. They
are never labelled: the lesion mask does not change.

Each vessel is a smooth random centreline in the head frame (mm), sampled every 0.5 mm with
a radius; a slice paints the disc of each centreline point within a radius of its plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.anatomy import Ell, Head
from training.phantom import SliceMaps
from training.tentorium import Tent

STEP_MM = 0.5
#: The transverse sinus's centreline lies this far (mm) inside the fossa's wall: the sinus
#: sits in a groove of the inner table, most of it inside the dura.
INSET_MM = 2.0


def _transverse(s: int, head: Head, tent: Tent, pf: Ell) -> list[tuple[float, float, float]]:
    """From the torcula (the ridge's end, behind on the midline) round the wall of the
    posterior fossa ``pf`` in the tentorium's attached margin (where ``tent``'s surface meets
    the wall), then the sigmoid sinus down to the jugular foramen."""
    knots = []
    for deg in (90.0, 50.0, 10.0):
        t = math.radians(deg)
        z = pf.cz
        for _ in range(3):  # the wall's section depends on the height: settle both
            k = max(pf.k(z), 0.3)
            x = s * (pf.a * k - INSET_MM) * math.cos(t)
            y = pf.cy + (pf.b * k - INSET_MM) * math.sin(t)
            z = float(tent.surface(x, y))
        knots.append((x, y, z))
    knots.append((s * 0.68 * head.A, 0.25 * head.B, 0.05 * head.H))
    return knots


@dataclass
class Vessels:
    """Centreline points (K, 3) in the head frame, their radii (K,), and the blood's HU."""

    pts: np.ndarray
    rad: np.ndarray
    hu: float


def _curve(
    rng: np.random.Generator, knots: list[tuple[float, float, float]], r: float, wiggle: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points every STEP_MM along a wiggly polyline through ``knots`` (radius ``r``)."""
    k = np.asarray(knots, float)
    k[1:-1] += rng.normal(0, wiggle, k[1:-1].shape)
    seg = np.linalg.norm(np.diff(k, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.arange(0.0, s[-1], STEP_MM)
    pts = np.stack([np.interp(t, s, k[:, i]) for i in range(3)], axis=1)
    # A gentle meander on top (vessels are never straight).
    ph = rng.uniform(0, 2 * math.pi, 3)
    amp = wiggle * 0.5
    pts += amp * np.sin(t[:, None] / rng.uniform(6, 14) + ph[None, :])
    return pts, np.full(len(pts), r)


def sample_vessels(rng: np.random.Generator, head: Head, tent: Tent, pf: Ell) -> Vessels:
    """The vessels of one head (their calibre and course vary per study); the transverse
    sinuses run where the tentorium ``tent`` meets the wall of the posterior fossa ``pf``."""
    A, B, H = head.A, head.B, head.H
    parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(knots: list[tuple[float, float, float]], r: float, wiggle: float = 1.5) -> None:
        parts.append(_curve(rng, knots, r * rng.uniform(0.8, 1.2), wiggle))

    # Basilar artery in the prepontine cistern, from the vertebrals to the top of the pons.
    add([(0, 0.03 * B, 0.02 * H), (0, 0.0, 0.16 * H), (0, -0.02 * B, 0.29 * H)], 1.6)
    for s in (-1, 1):
        add([(s * 9, 0.25 * B, -0.04 * H), (s * 4, 0.08 * B, 0.0), (0, 0.03 * B, 0.02 * H)], 1.3)
        # Middle cerebral artery: M1 out to the sylvian fissure, branches up the insula.
        m1_end = (s * 0.52 * A, -0.10 * B, 0.36 * H)
        add([(s * 5, -0.10 * B, 0.29 * H), (s * 0.3 * A, -0.12 * B, 0.31 * H), m1_end], 1.4)
        for _ in range(int(rng.integers(2, 4))):
            add(
                [
                    m1_end,
                    (s * 0.58 * A, rng.uniform(-0.2, 0.05) * B, rng.uniform(0.40, 0.46) * H),
                    (s * 0.68 * A, rng.uniform(-0.3, 0.15) * B, rng.uniform(0.48, 0.62) * H),
                ],
                0.9,
                2.5,
            )
        # Anterior cerebral artery: up the interhemispheric fissure, over the callosum.
        add(
            [
                (s * 4, -0.14 * B, 0.30 * H),
                (s * 1.5, -0.40 * B, 0.40 * H),
                (s * 1.2, -0.35 * B, 0.58 * H),
                (s * 1.2, 0.05 * B, 0.66 * H),
            ],
            1.0,
            1.0,
        )
        # Posterior cerebral artery around the midbrain.
        add(
            [
                (0, -0.02 * B, 0.30 * H),
                (s * 14, 0.05 * B, 0.32 * H),
                (s * 0.28 * A, 0.30 * B, 0.36 * H),
                (s * 0.25 * A, 0.60 * B, 0.40 * H),
            ],
            1.0,
            2.0,
        )
        # Transverse and sigmoid sinuses along the back and side of the posterior fossa,
        # in the tentorium's attached margin.
        add(_transverse(s, head, tent, pf), 3.2, 1.0)
    # Cortical veins over the convexity, running up to the superior sagittal sinus.
    for _ in range(int(rng.integers(5, 12))):
        th = rng.uniform(0, 2 * math.pi)
        z0 = rng.uniform(0.45, 0.8) * H
        knots = []
        for f in np.linspace(0, 1, 4):
            z = z0 + f * (0.97 * H - z0) * rng.uniform(0.6, 1.0)
            u = max(0.0, 1 - ((z - 0.52 * H) / (0.48 * H)) ** 3) ** (1 / 3)  # the dome
            a = (A - 2.5) * u * (1 - 0.6 * f) + 1.5
            b = (B - 2.5) * u * (1 - 0.6 * f) + 1.5
            knots.append((a * math.cos(th), b * math.sin(th), z))
        add(knots, 1.0, 1.0)
    pts = np.concatenate([p for p, _ in parts]).astype(np.float32)
    rad = np.concatenate([r for _, r in parts]).astype(np.float32)
    return Vessels(pts, rad, float(rng.uniform(40, 58)))


def paint_vessels(m: SliceMaps, v: Vessels) -> None:
    """Paint the vessels' sections on this slice into m.hu, inside the cranial cavity only
    (a tube that strays into bone or brain parenchyma is clipped there, except the cortical
    surface, where veins lie on the brain)."""
    dz = np.abs(v.pts[:, 2] - m.z)
    sel = dz < v.rad
    if not sel.any():
        return
    g = m.grid
    where = m.cavity & ((m.d_in < 4.0) | m.csf | (m.vent > 0) | ~m.brain)
    n, ps = g.n, g.ps
    reach = g.margin / ps + 2
    for (x, y, _), r, d in zip(v.pts[sel], v.rad[sel], dz[sel], strict=True):
        rr = float(r) ** 2 - float(d) ** 2
        c, row = x / ps + n / 2, y / ps + n / 2
        r_px = math.sqrt(rr) / ps
        lo_c, hi_c = max(int(c - r_px - reach), 0), min(int(c + r_px + reach) + 2, n)
        lo_r, hi_r = max(int(row - r_px - reach), 0), min(int(row + r_px + reach) + 2, n)
        if lo_c >= hi_c or lo_r >= hi_r:
            continue
        box = (slice(lo_r, hi_r), slice(lo_c, hi_c))
        inside = (g.X[box] - x) ** 2 + (g.Y[box] - y) ** 2 < rr
        inside &= where[box]
        m.hu[box][inside] = v.hu
