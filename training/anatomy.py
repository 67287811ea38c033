"""The phantom head's geometry: random size, shape and tissue values (:class:`Head`) and
the ellipsoid parts of the anatomy (:func:`anatomy`) in the head frame (mm; x towards the
patient's left, y posterior, z up from the foramen magnum plane). training.phantom draws
slices of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Ell:
    """An ellipsoid (mm, head frame) turned in-plane by ``ang`` radians.

    ``c_low`` gives a different lower half-height; ``p`` > 2 keeps the section full-size
    for longer before it closes (flat-bottomed fossae, a full dome).
    """

    cx: float
    cy: float
    cz: float
    a: float
    b: float
    c: float
    ang: float = 0.0
    c_low: float = 0.0
    p: float = 2.0

    def k(self, z: float) -> float:
        """Scale of the section at height z (0 where the plane misses it)."""
        dz = z - self.cz
        c = self.c_low if (dz < 0 and self.c_low > 0) else self.c
        u = abs(dz) / c
        return 0.0 if u >= 1.0 else (1.0 - u**self.p) ** (1.0 / self.p)

    def mirror(self) -> Ell:
        """The same part on the other side of the midline."""
        return replace(self, cx=-self.cx, ang=-self.ang)

    def grow(self, d: float, up: float | None = None, down: float | None = None) -> Ell:
        """Inflated by d in-plane, ``up``/``down`` (default d) along z."""
        up = d if up is None else up
        down = d if down is None else down
        return replace(
            self,
            a=self.a + d,
            b=self.b + d,
            c=self.c + up,
            c_low=(self.c_low or self.c) + down,
        )


def pair(e: Ell) -> list[Ell]:
    """The part and its mirror image."""
    return [e, e.mirror()]


@dataclass
class Head:
    """Random size, shape and tissue values of one phantom head (mm, HU)."""

    A: float  # inner half-width
    B: float  # inner half-length
    H: float  # foramen magnum plane to inner vertex
    t_lat: float
    t_front: float
    t_occ: float
    t_top: float
    t_base: float
    scalp: float
    vent: float
    atrophy: float
    egg: float
    gm: float
    wm: float
    csf: float
    cortical: float
    diploe: float
    gyrus_mm: float
    frontal_sinus: float

    @property
    def t_squama(self) -> float:
        """The temporal squama, the thinnest bone of the vault (about 1.5-3 mm on real CT,
        against 3-5 mm for the parietal bone): the temporal lobes' outer wall, with the
        temporalis muscle outside it. Partial volume of this thin bone is a classic
        subdural mimic, so the phantom must have it."""
        return 0.55 * self.t_lat

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Head:
        b = rng.uniform(77, 88)
        # grey matter: scanners' calibration of brain differs by several HU (real non-contrast
        # head CT reads grey matter anywhere from the low 30s to the mid 40s)
        gm = rng.uniform(31, 44)
        # fmt: off
        return cls(
            A=b * rng.uniform(0.84, 0.98), B=b, H=rng.uniform(112, 130),
            t_lat=rng.uniform(3, 5), t_front=rng.uniform(5, 8.5), t_occ=rng.uniform(5.5, 9.5),
            t_top=rng.uniform(5, 8), t_base=rng.uniform(6, 10), scalp=rng.uniform(4, 7),
            vent=rng.uniform(0.75, 1.45), atrophy=rng.uniform(0, 1) ** 1.2,
            egg=rng.uniform(0.03, 0.1), gm=gm, wm=gm - rng.uniform(6, 10),
            csf=rng.uniform(2, 8), cortical=rng.uniform(1400, 1800),
            diploe=rng.uniform(500, 850), gyrus_mm=rng.uniform(11, 15),
            frontal_sinus=rng.uniform(0, 1),
        )
        # fmt: on


def anatomy(h: Head) -> dict[str, list[Ell]]:
    """The ellipsoid parts of a head, by role."""
    p = _vault(h)
    p.update(_ventricles(h))
    p.update(_grey_and_csf(h))
    lat = p["vent_l"]
    p["atria"] = [lat[3], lat[3].mirror()]
    p.update(_skull_base(h))
    p.update(_orbits_and_ears(h))
    return p


def _vault(h: Head) -> dict[str, list[Ell]]:
    """Cerebrum, temporal lobes, posterior fossa and the cavity they make; the skull's
    outer surface and the head (scalp, neck, nose, ears)."""
    A, B, H = h.A, h.B, h.H
    t_ap = (h.t_front + h.t_occ) / 2
    shift = (h.t_occ - h.t_front) / 2
    cer = Ell(0, 0, 0.52 * H, A, B, 0.48 * H, c_low=0.25 * H, p=3.0)
    temp = Ell(0.56 * A, -0.10 * B, 0.27 * H, 0.40 * A, 0.44 * B, 0.15 * H, c_low=0.14 * H, p=2.6)
    pf = Ell(0, 0.44 * B, 0.17 * H, 0.78 * A, 0.50 * B, 0.19 * H, p=2.2)
    canal = Ell(0, 0.22 * B, -0.4 * H, 14, 14, 0.45 * H, p=8)
    p = {
        "cerebrum": [cer],
        "temporal": pair(temp),
        "pf": [pf],
        "cavity": [cer, *pair(temp), pf, canal],
        "outer": [
            replace(
                cer,
                cy=shift,
                a=A + h.t_lat,
                b=B + t_ap,
                c=cer.c + h.t_top,
                c_low=cer.c_low + 0.8 * h.t_base,
            ),
            *pair(temp.grow(h.t_squama, down=0.6 * h.t_base)),  # squama; the floor is thick
            pf.grow(h.t_occ, down=h.t_base),
            canal.grow(5),
        ],
    }
    s = h.scalp
    # Temporalis: a muscle fan over the temporal fossa, from the zygoma to the superior
    # temporal line (about the lateral ventricles' bodies), thickest over the squama.
    tm = Ell(A + h.t_lat - 2, -0.12 * B, 0.38 * H, 1.6 * s + 2, 0.45 * B, 0.22 * H, p=2.2)
    p["temporalis"] = pair(tm)
    p["body"] = [
        p["outer"][0].grow(s),
        *pair(temp.grow(h.t_lat + s + 6, up=0.0, down=h.t_base + 8)),
        pf.grow(h.t_occ + s + 3, down=0.3 * H),
        Ell(0, -0.12 * B, 0.10 * H, 0.92 * A + s, B + t_ap + s - 2, 0.33 * H, c_low=0.5 * H, p=3),
        Ell(0, 0.30 * B, -0.1 * H, 0.9 * A, 0.75 * B, 0.5 * H),  # neck
        Ell(0, -B - t_ap - s - 4, 0.04 * H, 7, 10, 0.16 * H),  # nose
        *pair(Ell(A + h.t_lat + s + 5, 0.05 * B, 0.14 * H, 5, 15, 0.17 * H)),  # ears
        *p["temporalis"],
    ]
    return p


def _ventricles(h: Head) -> dict[str, list[Ell]]:
    """Lateral (left; right mirrored), third and fourth ventricles, sized by h.vent."""
    A, B, H, v = h.A, h.B, h.H, h.vent
    p: dict[str, list[Ell]] = {}
    hv = 0.55 * (v - 1)  # ventricles spread out as they grow
    lat = [
        Ell(1.8 + 4.2 * v, -0.30 * B, 0.47 * H, 4.5 * v, 12 * v, 9, ang=0.4),  # frontal horn
        Ell(2.5 + 4.5 * v, -0.14 * B, 0.51 * H, 5 * v, 12 * v, 9, ang=0.2),
        Ell(4.0 + 5 * v + hv * 3, 0.0 * B, 0.565 * H, 4.5 * v, 0.33 * B, 8, ang=-0.17),  # body
        Ell(0.30 * A + hv * 4, 0.30 * B, 0.47 * H, 5.5 * v, 11 * v, 10, ang=-0.45),  # atrium
        Ell(0.28 * A + hv * 3, 0.50 * B, 0.43 * H, 3.2 * v, 10 * v, 5, ang=0.3),  # occipital
        Ell(0.44 * A, 0.18 * B, 0.39 * H, 3.5 * v, 7 * v, 6, ang=-0.4),
        Ell(0.50 * A, 0.02 * B, 0.33 * H, 2.5 * v, 13, 4, ang=-0.3),  # temporal horn
    ]
    p["vent_l"] = lat
    p["vent_r"] = [e.mirror() for e in lat]
    p["vent3"] = [Ell(0, -0.03 * B, 0.42 * H, 1.5 + 1.8 * (v - 0.7), 0.2 * B, 7)]
    p["vent4"] = [
        Ell(0, 0.30 * B, 0.17 * H, 6 * v, 4.5, 7, ang=0.0),
        Ell(0, 0.16 * B, 0.31 * H, 1.3, 1.5, 6),
    ]  # + aqueduct
    return p


def _grey_and_csf(h: Head) -> dict[str, list[Ell]]:
    """Deep grey nuclei, insula, sylvian fissures, cisterns, brainstem, corpus callosum."""
    A, B, H, v = h.A, h.B, h.H, h.vent
    p: dict[str, list[Ell]] = {}
    p["caudate"] = pair(Ell(10 + 6.5 * v, -0.20 * B, 0.49 * H, 6, 11, 10, ang=0.3))
    p["deep"] = [
        *pair(Ell(0.37 * A, -0.06 * B, 0.43 * H, 7, 16, 10, ang=-0.15)),
        *pair(Ell(0.15 * A, 0.13 * B, 0.44 * H, 9, 12, 9)),
        *p["caudate"],
    ]
    p["insula"] = pair(Ell(0.56 * A, -0.08 * B, 0.42 * H, 3.5, 0.25 * B, 0.1 * H, ang=-0.08))
    w = 1.0 + 1.6 * h.atrophy
    p["sylvian"] = [
        *pair(Ell(0.61 * A, -0.1 * B, 0.41 * H, w, 0.14 * B, 0.08 * H, ang=-0.08)),
        *pair(Ell(0.78 * A, -0.22 * B, 0.39 * H, 0.2 * A, w, 0.07 * H, ang=0.5)),
        *pair(Ell(0.48 * A, -0.22 * B, 0.32 * H, 0.22 * A, w + 0.5, 5, ang=0.35)),
    ]
    p["cisterns"] = [
        Ell(0, -0.12 * B, 0.29 * H, 12, 9, 5),  # suprasellar
        Ell(0, 0.08 * B + 2.5, 0.34 * H, 14.5, 12.5, 9),  # ambient around the midbrain
        Ell(0, 0.24 * B, 0.40 * H, 8, 5, 5),  # quadrigeminal
        Ell(0, 0.02 * B, 0.19 * H, 14, 10, 12),  # prepontine
        Ell(0, 0.80 * B, 0.07 * H, 10, 9, 9),  # cisterna magna
    ]
    p["stem"] = [
        Ell(0, 0.08 * B - 0.5, 0.34 * H, 12.5, 10.5, 9),  # midbrain
        Ell(0, 0.14 * B, 0.20 * H, 15, 13, 11),  # pons
        Ell(0, 0.22 * B, 0.02 * H, 10, 9, 0.1 * H),  # medulla
    ]
    p["notch"] = [Ell(0, -0.05 * B, 0.33 * H, 3.5, 5, 5)]  # interpeduncular
    p["callosal"] = [Ell(0, -0.04 * B, 0.46 * H, 30, 0.50 * B, 0.12 * H)]
    p["pineal"] = [Ell(0, 0.19 * B, 0.42 * H, 3.5, 3.5, 3.5)]
    return p


def _skull_base(h: Head) -> dict[str, list[Ell]]:
    """Skull base and face bones, then the air spaces carved into them."""
    A, B, H = h.A, h.B, h.H
    p: dict[str, list[Ell]] = {}
    # Skull base: bone, then air spaces carved into it.
    p["base_bone"] = [
        *pair(Ell(0.58 * A, 0.10 * B, 0.17 * H, 30, 9.5, 10, ang=0.62)),  # petrous ridges
        Ell(0, -0.22 * B, 0.21 * H, 10, 7, 9),
        Ell(0, -0.03 * B, 0.07 * H, 11, 8, 9),  # clivus
        Ell(0, -0.40 * B, 0.18 * H, 18, 15, 13),  # sphenoid body
        *pair(Ell(0.45 * A, -0.82 * B, 0.23 * H, 16.5, 23.5, 13, ang=0.3)),  # orbit walls
        Ell(0, -0.88 * B, 0.20 * H, 14, 19, 14),  # ethmoid
        *pair(Ell(0.86 * A, -0.1 * B, 0.03 * H, 6, 10, 12)),  # mandibular condyles
        Ell(0, -B - h.t_front / 2, 0.42 * H, 17, h.t_front / 2 + 1.5, 12),  # glabella
        Ell(0, -0.2 * B, -0.02 * H, 10, 9, 0.07 * H),  # dens / C1 front
        *pair(Ell(0.45 * A, -0.85 * B, 0.0, 14.7, 16.7, 0.16 * H, ang=0.2)),  # maxilla
        Ell(0, -B - 8, 0.02 * H, 10.2, 21.7, 0.15 * H),  # nasal walls
    ]
    fs = h.frontal_sinus
    p["sinus_air"] = [
        Ell(0, -0.40 * B, 0.18 * H, 16.5, 13.5, 11),  # sphenoid sinus
        *pair(Ell(0.45 * A, -0.85 * B, 0.0, 13.5, 15.5, 0.15 * H, ang=0.2)),  # maxillary
        Ell(0, -B - 8, 0.02 * H, 9, 20.5, 0.14 * H),  # nasal cavity
        Ell(0, -0.55 * B, -0.08 * H, 11, 7, 0.12 * H),  # nasopharynx
    ]
    if fs > 0.2:
        half = max(1.5, h.t_front / 2 - 0.5)
        p["sinus_air"].append(Ell(0, -B - h.t_front / 2 - 0.5, 0.42 * H, 13 * fs, half, 9 * fs))
    p["ethmoid"] = [Ell(0, -0.88 * B, 0.21 * H, 12, 17, 12)]
    p["mastoid"] = pair(Ell(0.82 * A, 0.30 * B, 0.14 * H, 12, 14, 14))
    return p


def _orbits_and_ears(h: Head) -> dict[str, list[Ell]]:
    """Orbital fat, globes, lenses, optic nerves, ear canals."""
    A, B, H = h.A, h.B, h.H
    p: dict[str, list[Ell]] = {}
    p["orbit_fat"] = pair(Ell(0.45 * A, -0.82 * B, 0.23 * H, 15, 22, 10.5, ang=0.3))
    p["globe"] = pair(Ell(0.5 * A, -0.82 * B - 13, 0.235 * H, 12, 12, 12))
    p["lens"] = pair(Ell(0.5 * A, -0.82 * B - 23.5, 0.235 * H, 4.5, 1.8, 4.5))
    p["optic"] = pair(Ell(0.30 * A, -0.78 * B, 0.24 * H, 2.2, 14, 2.5, ang=0.45))
    p["ear_canal"] = pair(Ell(A + h.t_lat + 4, 0.05 * B, 0.12 * H, 9, 3, 3))
    return p
