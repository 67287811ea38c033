"""Hemorrhages, placed in the phantom's head frame.

Each hemorrhage is a 3-D shape defined relative to the anatomy (the inner table, the CSF
spaces, the ventricles), so its extent on every slice, and hence the slice labels, come from
where it really is. Each subtype is one entry of :data:`KINDS`: how it is placed (sample)
and which pixels of a slice it fills (mask). Look-alikes (calcifications, streaks) are in
training.lookalikes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ichviewer.core.labels import SUBTYPES
from training.anatomy import Ell, Head
from training.phantom import SliceMaps

#: Bit of each subtype in the lesion bitmask (bit i = SUBTYPES[i]).
BIT = {name: 1 << i for i, name in enumerate(SUBTYPES)}
#: A subtype counts on a slice only with at least this much area (mm^2).
MIN_AREA_MM2 = 5.0


@dataclass
class Lesion:
    """One placed hemorrhage (head frame, mm, HU)."""

    kind: str
    variant: str
    centre: tuple[float, float, float]
    size: tuple[float, float, float]
    hu: float
    z_range: tuple[float, float]
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (head frame)."""
        return {
            "type": self.kind,
            "variant": self.variant,
            "centre_head_mm": [round(float(v), 1) for v in self.centre],
            "size_mm": [round(float(v), 1) for v in self.size],
            "hu": round(float(self.hu), 1),
        }


def _wobble(rng: np.random.Generator, scale: float, amp: float, n: int = 5) -> np.ndarray:
    """Random 3-D sinusoids (wave vector, phase, amplitude) with wavelength ~ scale mm."""
    w = rng.standard_normal((n, 3))
    w *= (2 * math.pi / scale) / np.linalg.norm(w, axis=1, keepdims=True)
    w *= rng.uniform(0.6, 1.4, (n, 1))
    return np.column_stack([w, rng.uniform(0, 2 * math.pi, n), np.full(n, amp / math.sqrt(n))])


def _wob(p: np.ndarray, X: np.ndarray, Y: np.ndarray, z: float) -> np.ndarray:
    """Evaluate _wobble on the grid (on every 4th pixel and resized: it is smooth)."""
    step = 4 if X.shape[0] >= 96 else 1
    xs, ys = X[::step, ::step], Y[::step, ::step]
    out = np.zeros_like(xs)
    for wx, wy, wz, ph, a in p:
        out += a * np.sin(wx * xs + wy * ys + (wz * z + ph))
    if step > 1:
        out = cv2.resize(out, (X.shape[1], X.shape[0]), interpolation=cv2.INTER_LINEAR)
    return out


def _surface_point(cer: Ell, phi: float, z: float) -> tuple[float, float]:
    """A point on the cerebrum's inner table at angle phi and height z (approximate)."""
    k = max(cer.k(z), 0.4)
    return cer.a * k * math.cos(phi), cer.b * k * math.sin(phi)


def _side(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


Parts = dict[str, list[Ell]]
Masks = tuple[np.ndarray, np.ndarray | None]


# ------------------------------------------------------------------------------ epidural


def _sample_epidural(
    rng: np.random.Generator, head: Head, parts: Parts, s: int, tilt: float
) -> Lesion:
    """A lens against the inner table, most often temporal, stopped by the sutures."""
    H = head.H
    site = rng.choice(["temporal", "frontal", "parietal", "occipital"], p=[0.4, 0.2, 0.3, 0.1])
    phi, zf = {
        "temporal": (rng.uniform(-0.5, 0.4), rng.uniform(0.34, 0.52)),
        "frontal": (-math.pi / 2 + s * rng.uniform(0.1, 0.8), rng.uniform(0.45, 0.7)),
        "parietal": (rng.uniform(-0.1, 0.6), rng.uniform(0.6, 0.8)),
        "occipital": (math.pi / 2 - s * rng.uniform(0.1, 0.7), rng.uniform(0.38, 0.55)),
    }[str(site)]
    if site in ("temporal", "parietal") and s < 0:
        phi = math.pi - phi
    z = zf * H
    x, y = _surface_point(parts["cerebrum"][0], phi, z)
    r = rng.uniform(12, 30)
    t = min(rng.uniform(4, 17), 0.55 * r)
    return Lesion(
        "epidural",
        str(site),
        (x, y, z),
        (r, r, t),
        rng.uniform(55, 85),
        (z - r, z + r),
        {"wob": _wobble(rng, 25, 5)},
    )


def _sutures(les: Lesion, m: SliceMaps, head: Head) -> np.ndarray | float:
    """Taper (0..1) that stops an epidural at the coronal or lambdoid suture."""
    y = m.grid.Y
    cor, lam = -0.2 * head.B, 0.6 * head.B
    if les.variant == "frontal":
        return np.clip((cor - y) / 3, 0, 1)
    if les.variant == "parietal":
        return np.clip((y - cor) / 3, 0, 1) * np.clip((lam - y) / 3, 0, 1)
    if les.variant == "occipital":
        return np.clip((y - lam + 15) / 3, 0, 1)
    return 1.0


def _epidural_mask(m: SliceMaps, les: Lesion, head: Head, wob: np.ndarray) -> Masks:
    X, Y, z = m.grid.X, m.grid.Y, m.z
    cx, cy, cz = les.centre
    r, _, t = les.size
    rs2 = np.maximum((X - cx) ** 2 + (Y - cy) ** 2 + (z - cz) ** 2 - m.d_in**2, 0)
    prof = t * np.clip(1 - rs2 / r**2, 0, None) ** 0.6 * (1 + wob / 25)
    return m.cavity & (m.d_in < prof * _sutures(les, m, head)), None


# ------------------------------------------------------------------------------ subdural


def _sample_subdural(
    rng: np.random.Generator, head: Head, parts: Parts, s: int, tilt: float
) -> Lesion:
    """A crescent over the convexity, or (15 %) a sheet along the falx."""
    H, A, B = head.H, head.A, head.B
    variant = "falcine" if rng.random() < 0.15 else "convexity"
    if variant == "convexity":
        phi = (0.0 if s > 0 else math.pi) + s * rng.uniform(-0.6, 0.3)
        z = rng.uniform(0.42, 0.72) * H
        zh, ph = rng.uniform(20, 55), rng.uniform(0.6, 1.4)
        t = rng.uniform(2.5, 13)
        x, y = _surface_point(parts["cerebrum"][0], phi, z)
        size = (ph * A, zh, t)
    else:
        y, z, x = rng.uniform(0.0, 0.6) * B, rng.uniform(0.45, 0.75) * H, 0.0
        zh, ph, t = rng.uniform(15, 35), rng.uniform(18, 40), rng.uniform(2, 5)
        size = (ph, zh, t)
    return Lesion(
        "subdural",
        variant,
        (x, y, z),
        size,
        rng.uniform(55, 85),
        (z - zh, z + zh),
        {
            "phi": phi if variant == "convexity" else 0.0,
            "ph": ph,
            "wob": _wobble(rng, 30, 2.5),
        },
    )


def _subdural_mask(m: SliceMaps, les: Lesion, head: Head, wob: np.ndarray) -> Masks:
    X, Y, z = m.grid.X, m.grid.Y, m.z
    _, cy, cz = les.centre
    w, zh, t = les.size
    fz = max(0.0, 1 - ((z - cz) / zh) ** 2) ** 0.5
    if les.variant == "convexity":
        dphi = (np.arctan2(Y, X) - les.extra["phi"] + math.pi) % (2 * math.pi) - math.pi
        prof = t * fz * np.sqrt(np.clip(1 - (dphi / les.extra["ph"]) ** 2, 0, 1))
        outer = np.hypot(X / head.A, Y / head.B) > 0.55  # the convexity, not the base
        return m.cavity & ~m.infra & outer & (m.d_in < prof + wob * 0.2), None
    prof = t * fz * np.sqrt(np.clip(1 - ((Y - cy) / w) ** 2, 0, 1))
    return m.cavity & ~m.infra & (np.abs(X) < prof) & (m.d_in > 0.5), None


# -------------------------------------------------------------------------- subarachnoid


def _sample_subarachnoid(
    rng: np.random.Generator, head: Head, parts: Parts, s: int, tilt: float
) -> Lesion:
    """Blood in the sulci of the convexity, the basal cisterns or a sylvian fissure."""
    H, A, B = head.H, head.A, head.B
    variant = str(rng.choice(["convexity", "basal", "sylvian"], p=[0.4, 0.35, 0.25]))
    if variant == "convexity":
        phi = rng.uniform(-math.pi, math.pi)
        z = rng.uniform(0.5, 0.85) * H
        x, y = _surface_point(parts["cerebrum"][0], phi, z)
        r = rng.uniform(15, 35)
    elif variant == "basal":
        x, y, z = 0.0, -0.06 * B, 0.31 * H
        r = rng.uniform(18, 34)
    else:
        x, y, z = s * 0.62 * A, -0.08 * B, 0.39 * H
        r = rng.uniform(14, 28)
    return Lesion(
        "subarachnoid",
        variant,
        (x, y, z),
        (r, r, r),
        rng.uniform(45, 70),
        (z - r, z + r),
        {"wob": _wobble(rng, 20, 0.25)},
    )


def _subarachnoid_mask(m: SliceMaps, les: Lesion, head: Head, wob: np.ndarray) -> Masks:
    X, Y, z = m.grid.X, m.grid.Y, m.z
    cx, cy, cz = les.centre
    r = les.size[0]
    d2 = ((X - cx) ** 2 + (Y - cy) ** 2 + (z - cz) ** 2) / r**2
    return m.csf & (d2 < 1 + wob), None


# ---------------------------------------------------------------------- intraventricular


def _sample_intraventricular(
    rng: np.random.Generator, head: Head, parts: Parts, s: int, tilt: float
) -> Lesion:
    """Blood layering in the occipital horns (level with the floor of the scanner, hence
    the tilt), or a cast of one or both lateral ventricles; sometimes the third too."""
    H = head.H
    variant = "layering" if rng.random() < 0.7 else "cast"
    sides = [1, 2] if rng.random() < 0.6 else [1 if s > 0 else 2]
    lat = parts["vent_l"]
    z = lat[4].cz
    back = lat[4].cy + lat[4].b
    depth = rng.uniform(6, 20) * head.vent
    extra = {
        "sides": sides,
        "tilt": tilt,
        "level": back - depth,
        "third": rng.random() < 0.4,
        "wob": _wobble(rng, 20, 1.0),
    }
    return Lesion(
        "intraventricular",
        variant,
        (s * lat[3].cx, back - depth / 2, z),
        (lat[3].a, depth, lat[3].c),
        rng.uniform(48, 72) if variant == "layering" else rng.uniform(60, 85),
        (0.25 * H, 0.65 * H),
        extra,
    )


def _intraventricular_mask(m: SliceMaps, les: Lesion, head: Head, wob: np.ndarray) -> Masks:
    X, Y = m.grid.X, m.grid.Y
    ex = les.extra
    mask = np.isin(m.vent, ex["sides"])
    if les.variant == "layering":
        gy = math.sin(ex["tilt"]) * X + math.cos(ex["tilt"]) * Y
        mask &= gy > ex["level"]
    if ex["third"]:
        mask |= m.vent == 3
    return mask, None


# ---------------------------------------------------------------------- intraparenchymal


def _sample_intraparenchymal(
    rng: np.random.Generator, head: Head, parts: Parts, s: int, tilt: float
) -> Lesion:
    """A clot in the putamen, thalamus, a lobe or the cerebellum, with an oedema rim."""
    H, A, B = head.H, head.A, head.B
    site = str(rng.choice(["putamen", "thalamus", "lobar", "cerebellar"], p=[0.3, 0.15, 0.45, 0.1]))
    if site == "putamen":
        e = parts["deep"][0 if s > 0 else 1]
        c = (e.cx, e.cy, e.cz)
    elif site == "thalamus":
        e = parts["deep"][2 if s > 0 else 3]
        c = (e.cx, e.cy, e.cz)
    elif site == "cerebellar":
        c = (s * 0.4 * A, 0.6 * B, 0.15 * H)
    else:
        phi = rng.uniform(-math.pi, math.pi)
        z = rng.uniform(0.42, 0.8) * H
        x, y = _surface_point(parts["cerebrum"][0], phi, z)
        d = rng.uniform(14, 32)
        c = (x * (1 - d / math.hypot(x, y)), y * (1 - d / math.hypot(x, y)), z)
    r0 = math.exp(rng.uniform(math.log(4), math.log(20 if site != "cerebellar" else 13)))
    size = tuple(r0 * rng.uniform(0.75, 1.25, 3))
    rim = rng.uniform(1.5, 3.5) + 0.15 * r0
    return Lesion(
        "intraparenchymal",
        site,
        c,
        size,
        rng.uniform(60, 88),
        (c[2] - 1.4 * size[2] - rim, c[2] + 1.4 * size[2] + rim),
        {
            "rim": rim,
            "r0": r0,
            "oedema": head.wm - rng.uniform(8, 12),
            "wob": _wobble(rng, 2.2 * r0, 0.25),
        },
    )


def _intraparenchymal_mask(m: SliceMaps, les: Lesion, head: Head, wob: np.ndarray) -> Masks:
    X, Y, z = m.grid.X, m.grid.Y, m.z
    cx, cy, cz = les.centre
    a, b, c = les.size
    q = np.sqrt(((X - cx) / a) ** 2 + ((Y - cy) / b) ** 2 + ((z - cz) / c) ** 2) - wob
    clot = (q < 1) & m.cavity & (m.d_in > 1.0)
    rim = (q < 1 + les.extra["rim"] / les.extra["r0"]) & ~clot & m.brain
    return clot, rim


# ------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class LesionKind:
    """One hemorrhage subtype: ``sample(rng, head, parts, side, tilt)`` places a lesion
    (side is +1 or -1, drawn for every lesion); ``mask(m, lesion, head, wob)`` gives its
    blood pixels on slice m and, for a parenchymal clot, its oedema rim (else None)."""

    sample: Callable[[np.random.Generator, Head, Parts, int, float], Lesion]
    mask: Callable[[SliceMaps, Lesion, Head, np.ndarray], Masks]


#: Every subtype in SUBTYPES, by name.
KINDS: dict[str, LesionKind] = {
    "epidural": LesionKind(_sample_epidural, _epidural_mask),
    "subdural": LesionKind(_sample_subdural, _subdural_mask),
    "subarachnoid": LesionKind(_sample_subarachnoid, _subarachnoid_mask),
    "intraventricular": LesionKind(_sample_intraventricular, _intraventricular_mask),
    "intraparenchymal": LesionKind(_sample_intraparenchymal, _intraparenchymal_mask),
}


def sample_lesions(
    rng: np.random.Generator,
    head: Head,
    parts: Parts,
    kinds: Sequence[str],
    tilt: float = 0.0,
) -> list[Lesion]:
    """One hemorrhage of each requested subtype, sized and placed at random."""
    out = []
    for kind in kinds:
        s = _side(rng)
        if kind not in KINDS:
            raise ValueError(f"unknown hemorrhage subtype {kind!r}; expected one of {SUBTYPES}")
        out.append(KINDS[kind].sample(rng, head, parts, s, tilt))
    return out


def lesion_mask(m: SliceMaps, les: Lesion, head: Head, wob: np.ndarray) -> Masks:
    """Blood pixels of ``les`` on slice m (and its oedema rim for a parenchymal clot)."""
    return KINDS[les.kind].mask(m, les, head, wob)


def paint_lesions(m: SliceMaps, lesions: Sequence[Lesion], head: Head) -> np.ndarray:
    """Paint blood (and oedema) into m.hu; return the uint8 subtype bitmask of the slice."""
    bits = np.zeros(m.hu.shape, np.uint8)
    min_px = MIN_AREA_MM2 / m.grid.ps**2
    found = []
    for les in lesions:
        if not les.z_range[0] <= m.z <= les.z_range[1]:
            continue
        wob = _wob(les.extra["wob"], m.grid.X, m.grid.Y, m.z)
        blood, rim = lesion_mask(m, les, head, wob)
        found.append((les, blood, rim, wob))
    for kind in SUBTYPES:
        total = sum(int(f[1].sum()) for f in found if f[0].kind == kind)
        if 0 < total < min_px:  # a sliver too small to call: leave it out altogether
            found = [f for f in found if f[0].kind != kind]
    for les, _, rim, _ in found:
        if rim is not None:
            m.hu[rim] = les.extra["oedema"]
    for les, blood, _, wob in found:
        amp = float(np.abs(les.extra["wob"][:, 4]).sum()) + 1e-3
        m.hu[blood] = les.hu + 4.0 * wob[blood] / amp
        bits[blood] |= BIT[les.kind]
    return bits
