"""Head-CT phantom anatomy in Hounsfield units.

The head is a set of ellipsoids in a head frame (mm; x towards the patient's left, y
posterior, z up from the foramen magnum plane) whose sections are deformed by smooth random
fields, so no two studies look alike. :meth:`Phantom.render` draws one axial slice in the
head frame and returns the tissue maps lesions.py needs to put hemorrhages where they belong.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace

import cv2
import numpy as np

AIR = -1000.0


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


def _zero_lines(f: np.ndarray) -> np.ndarray:
    """Pixels where f changes sign to a right or lower neighbour (1-pixel lines)."""
    s = f > 0
    line = np.zeros(f.shape, bool)
    line[:, :-1] |= s[:, :-1] != s[:, 1:]
    line[:-1, :] |= s[:-1, :] != s[1:, :]
    return line


def dist_mm(mask: np.ndarray, ps: float) -> np.ndarray:
    """Distance (mm) of every pixel inside ``mask`` to the nearest pixel outside."""
    return np.minimum(cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5), 1e4) * ps


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

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Head:
        b = rng.uniform(77, 88)
        gm = rng.uniform(35, 40)
        # fmt: off
        return cls(
            A=b * rng.uniform(0.84, 0.98), B=b, H=rng.uniform(112, 130),
            t_lat=rng.uniform(3, 5), t_front=rng.uniform(5, 8.5), t_occ=rng.uniform(5.5, 9.5),
            t_top=rng.uniform(5, 8), t_base=rng.uniform(6, 10), scalp=rng.uniform(4, 7),
            vent=rng.uniform(0.75, 1.45), atrophy=rng.uniform(0, 1) ** 1.2,
            egg=rng.uniform(0.03, 0.1), gm=gm, wm=gm - rng.uniform(7, 11),
            csf=rng.uniform(2, 8), cortical=rng.uniform(1400, 1800),
            diploe=rng.uniform(500, 850), gyrus_mm=rng.uniform(11, 15),
            frontal_sinus=rng.uniform(0, 1),
        )
        # fmt: on


def anatomy(h: Head) -> dict[str, list[Ell]]:
    """The ellipsoid parts of a head, by role."""
    A, B, H, v = h.A, h.B, h.H, h.vent
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
            *pair(temp.grow(h.t_base, down=0.6 * h.t_base)),
            pf.grow(h.t_occ, down=h.t_base),
            canal.grow(5),
        ],
    }
    s = h.scalp
    p["body"] = [
        p["outer"][0].grow(s),
        *pair(temp.grow(h.t_lat + s + 6, up=0.0, down=h.t_base + 8)),
        pf.grow(h.t_occ + s + 3, down=0.3 * H),
        Ell(0, -0.12 * B, 0.10 * H, 0.92 * A + s, B + t_ap + s - 2, 0.33 * H, c_low=0.5 * H, p=3),
        Ell(0, 0.30 * B, -0.1 * H, 0.9 * A, 0.75 * B, 0.5 * H),  # neck
        Ell(0, -B - t_ap - s - 4, 0.04 * H, 7, 10, 0.16 * H),  # nose
        *pair(Ell(A + h.t_lat + s + 5, 0.05 * B, 0.14 * H, 5, 15, 0.17 * H)),  # ears
    ]
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
    p["atria"] = [lat[3], lat[3].mirror()]
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
    p["orbit_fat"] = pair(Ell(0.45 * A, -0.82 * B, 0.23 * H, 15, 22, 10.5, ang=0.3))
    p["globe"] = pair(Ell(0.5 * A, -0.82 * B - 13, 0.235 * H, 12, 12, 12))
    p["lens"] = pair(Ell(0.5 * A, -0.82 * B - 23.5, 0.235 * H, 4.5, 1.8, 4.5))
    p["optic"] = pair(Ell(0.30 * A, -0.78 * B, 0.24 * H, 2.2, 14, 2.5, ang=0.45))
    p["ear_canal"] = pair(Ell(A + h.t_lat + 4, 0.05 * B, 0.12 * H, 9, 3, 3))
    return p


@dataclass
class SliceMaps:
    """One rendered slice in the head frame, with the tissue maps lesions are placed by."""

    z: float
    hu: np.ndarray  # float32 HU
    grid: Grid
    cavity: np.ndarray  # inside the inner table
    d_in: np.ndarray  # mm from the inner table (0 outside the cavity)
    brain: np.ndarray  # parenchyma
    csf: np.ndarray  # extra-axial CSF: sulci, fissures, cisterns
    vent: np.ndarray  # uint8: 1 left lateral, 2 right lateral, 3 third, 4 fourth ventricle
    infra: np.ndarray  # below the tentorium
    skull: np.ndarray  # bone


class Phantom:
    """A random head (anatomy + smooth deformations) that renders axial slices.

    Every slice draws from its own generator seeded from the study, so slices can be rendered
    in any order with the same result.
    """

    def __init__(
        self, head: Head, rng: np.random.Generator, n: int, fov: float, zs: np.ndarray
    ) -> None:
        self.head = head
        self.parts = anatomy(self.head)
        self.n, self.fov, self.ps = n, fov, fov / n
        self.zs = np.asarray(zs, float)
        c = ((np.arange(n) + 0.5 - n / 2) * self.ps).astype(np.float32)
        self._x0, self._y0 = np.meshgrid(c, c)
        nzl = max(3, int((self.zs[-1] - self.zs[0]) / 35) + 2)
        self._wz = np.linspace(self.zs[0] - 1, self.zs[-1] + 1, nzl)
        self._warp = rng.standard_normal((nzl, 2, 6, 6)).astype(np.float32)
        self._warp_amp = rng.uniform(1.5, 3.5)
        self._seed = int(rng.integers(2**62))
        self._index, self._cache = -1, {}

    def _grid(self, z: float) -> Grid:
        j = float(np.interp(z, self._wz, np.arange(len(self._wz))))
        j0 = min(int(j), len(self._wz) - 2)
        w = self._warp[j0] * (1 - (j - j0)) + self._warp[j0 + 1] * (j - j0)
        n = self.n
        dx = cv2.resize(w[0], (n, n), interpolation=cv2.INTER_CUBIC) * self._warp_amp
        dy = cv2.resize(w[1], (n, n), interpolation=cv2.INTER_CUBIC) * self._warp_amp
        Y = self._y0 + dy
        X = (self._x0 + dx) / (1 + self.head.egg * np.clip(Y / self.head.B, -1.2, 1.2))
        return Grid(n, self.ps, X, Y, margin=4 * self._warp_amp + 3 * self.ps)

    def render(self, z: float, index: int = 0) -> SliceMaps:
        """Draw the slice at height z (mm, head frame)."""
        if index != self._index:
            self._index, self._cache = index, {}
        h, P, n, ps = self.head, self.parts, self.n, self.ps
        g = self._grid(z)
        t = z / h.H
        hu = np.full((n, n), AIR, np.float32)

        # Scalp: skin, subcutaneous fat, muscle; fat planes in the neck and face.
        body = g.mask(P["body"], z)
        d_skin = dist_mm(body, ps)
        hu[body] = 34.0 + 5 * self._f("scalp", 20.0)[body]
        fat_th = 1.0 + 1.0 * self._f("fat", 30.0) + 8 * max(0.0, 0.3 - t)
        hu[body & (d_skin > 1.3) & (d_skin < 1.3 + fat_th)] = -95.0
        if t < 0.3:
            planes = self._f("planes", 12.0) > 1.9
            hu[body & planes & (d_skin > 4)] = -85.0

        # Bone and the cranial cavity.
        bone = g.mask(P["outer"], z) & body
        g.mask(P["base_bone"], z, out=bone)
        cav = g.mask(P["cavity"], z) & ~g.mask(P["base_bone"] + P["orbit_fat"], z)
        air = g.mask(P["sinus_air"] + P["ear_canal"], z)
        honey = g.mask(P["ethmoid"] + P["mastoid"], z)
        honey &= np.abs(self._f("honey", 6.0)) > 0.35
        soft_eye = g.mask(P["orbit_fat"], z)
        skull = bone & ~cav & ~air & ~honey & ~soft_eye
        d_bone = dist_mm(skull, ps)
        tab = 1.3 + 0.4 * self._f("table", 30.0)
        trab = h.diploe + 150 * self._f("trab", 4.0)
        hu[skull] = np.where(d_bone < tab, h.cortical, trab)[skull]
        hu[(air | honey) & body] = -930.0
        nasal = g.mask(P["sinus_air"][3:4], z) & body
        hu[nasal & (np.abs(g.X) > 2.5) & (self._f("turbinates", 5.0) > 0.3)] = 40.0
        hu[nasal & (np.abs(g.X) < 0.9)] = 500.0
        g.paint(hu, P["orbit_fat"], z, -90.0)
        g.paint(hu, P["optic"], z, 32.0)
        g.paint(hu, P["globe"], z, 60.0)
        g.paint(hu, [replace(e, a=e.a - 1.2, b=e.b - 1.2) for e in P["globe"]], z, 10.0)
        g.paint(hu, P["lens"], z, 110.0)

        # Cavity contents: CSF, then parenchyma, cortex and sulci.
        d_in = dist_mm(cav, ps)
        hu[cav] = h.csf
        infra = g.mask(P["pf"], z) & cav
        sup = cav & ~infra
        gap = 0.5 + 2.5 * h.atrophy + 0.6 * self._f("gap", 40.0)
        depth = d_in - gap
        brain = cav & (depth > 0)
        hu[brain] = h.wm + 1.5 * self._f("wm", 15.0)[brain]
        grey, frac = self._cortex(g, z, depth, sup)
        csf = cav & ~brain
        grey &= brain
        hu[grey] = h.gm + 1.0 * self._f("gm", 10.0)[grey]
        hu[sup] += (frac * (h.csf - hu))[sup]
        csf |= frac > 0.35
        self._cerebellum(g, depth, infra & brain, hu)

        # Deep grey, fissures, cisterns, brainstem, ventricles.
        deep = g.mask(P["deep"] + P["insula"], z) & sup & brain
        hu[deep] = h.gm - 2.5
        callosal = g.mask(P["callosal"], z)
        fiss_w = 0.8 + 1.5 * h.atrophy
        fissure = sup & (np.abs(g.X) < fiss_w) & ~callosal
        hu[fissure] = h.csf
        csf |= fissure
        syl = g.mask(P["sylvian"] + P["cisterns"], z) & cav
        hu[syl] = h.csf
        csf |= syl
        stem = g.mask(P["stem"], z) & cav
        hu[stem] = h.wm + 3
        g.paint(hu, P["notch"], z, h.csf, where=cav)
        stem &= hu > h.csf + 1
        csf &= ~stem
        vent = np.zeros((n, n), np.uint8)
        for code, key in ((1, "vent_l"), (2, "vent_r"), (3, "vent3"), (4, "vent4")):
            g.paint(vent, P[key], z, code, where=cav)
        vent[g.mask(P["caudate"], z) & (vent < 3)] = 0
        hu[vent > 0] = h.csf
        csf &= vent == 0
        brain = cav & ~csf & (vent == 0)
        if h.atrophy > 0.3 and (vent > 0).any():  # periventricular white matter disease
            d_v = dist_mm(vent == 0, ps)
            pv = (h.atrophy - 0.3) * 9 * np.exp(-d_v / 9) * (1 + 0.5 * self._f("pvwm", 12))
            hu[brain & sup] -= np.clip(pv, 0, 8)[brain & sup]
        # Dura: falx in the fissure, tentorium over the posterior fossa, sagittal sinus.
        falx = fissure & (np.abs(g.X) < 0.6 * ps + 0.2)
        hu[falx] = h.gm + 22
        tent = cv2.dilate(infra.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        hu[tent & sup & (t > 0.2)] = h.gm + 14
        sss = sup & (d_in < 5) & (np.abs(g.X) < (5 - d_in) * 0.7) & ((g.Y > 0) | (t > 0.55))
        hu[sss] = h.gm + 17
        return SliceMaps(z, hu, g, cav, d_in, brain, csf, vent, infra, skull)

    def _rng(self, name: str) -> np.random.Generator:
        """A generator for this slice and purpose (same draws for both sub-planes)."""
        return np.random.default_rng([self._seed, self._index, zlib.crc32(name.encode())])

    def _f(self, name: str, cell_mm: float) -> np.ndarray:
        """Smooth unit-variance field of this slice, features of about ``cell_mm``."""
        if name not in self._cache:
            k = max(3, round(self.fov / cell_mm))
            self._cache[name] = smooth_noise(self._rng(name), (k, k), self.n)
        return self._cache[name]

    def _cortex(
        self, g: Grid, z: float, depth: np.ndarray, sup: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gyri: radial zero-lines of a random field in (angle, depth) are the sulci.

        Returns the cortical grey matter and the CSF fraction of every pixel: a sulcus
        narrower than a pixel comes out faint, as partial volume makes it on a real scan.
        """
        h, ps = self.head, self.ps
        k = self.parts["cerebrum"][0].k(z) or 0.3
        per = math.pi * (h.A + h.B) * k
        n_t = self._cache.setdefault("n_t", max(12, round(per / (h.gyrus_mm * 0.5))))
        low = self._rng("gyri").standard_normal((4, n_t)).astype(np.float32)
        wig = self._f("wiggle", 9.0)
        u = (np.arctan2(g.Y, g.X) + math.pi) * (n_t / (2 * math.pi)) + 0.35 * wig
        u = u.astype(np.float32)
        v = np.clip(depth / 24.0 + 0.15 * wig, 0, 2.5).astype(np.float32)
        f = cv2.remap(low, u, v, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        f += 0.45 * self._f("gyri_iso", 6.0)
        deep_lo = self._rng("depth").uniform(0, 1, (1, n_t)).astype(np.float32)
        sdepth = 5 + 14 * cv2.remap(
            deep_lo, u, np.zeros_like(v), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP
        )
        syl = 0.0
        for e in self.parts["sylvian"][:2]:  # wide, deep sulci around the sylvian fissure
            syl = syl + np.exp(
                -((g.X - 1.15 * e.cx) ** 2 + (g.Y - e.cy) ** 2) / 400 - ((z - e.cz) / 14) ** 2
            )
        sdepth = sdepth + 14 * syl
        line = _zero_lines(f) & sup & (depth < sdepth)
        line |= _zero_lines(self._f("branches", 7.0)) & sup & (depth < 2.5 + 2 * wig)
        d_line = (
            np.minimum(cv2.distanceTransform((~line).astype(np.uint8), cv2.DIST_L2, 3), 1e4) * ps
        )
        hw = np.clip(0.45 + 1.2 * h.atrophy + 0.45 * self._f("width", 15.0) + 1.2 * syl, 0.05, 3)
        frac = np.clip((hw - d_line) / ps + 0.5, 0, 1)
        frac[~sup] = 0
        cortex = 2.4 + 0.5 * self._f("cortex", 20.0)
        grey = sup & ((depth < cortex) | ((d_line < hw + cortex) & (depth < sdepth + cortex)))
        return grey, frac

    def _cerebellum(self, g: Grid, depth: np.ndarray, cb: np.ndarray, hu: np.ndarray) -> None:
        """Cerebellum: grey-white mix with folia running along the surface."""
        if not cb.any():
            return
        h = self.head
        pf = self.parts["pf"][0]
        n_t = 10
        low = self._rng("folia").standard_normal((12, n_t)).astype(np.float32)
        u = ((np.arctan2(g.Y - pf.cy, g.X) + math.pi) * (n_t / (2 * math.pi))).astype(np.float32)
        v = np.clip(depth / 3.0, 0, 10.5).astype(np.float32)
        f = cv2.remap(low, u, v, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        hu[cb] = h.gm - 3 + 1.2 * self._f("cerebellum", 15.0)[cb]
        folia = cb & (np.abs(f) < 0.18) & (depth < 12)
        hu[folia] = h.csf + 8
        vermis = cb & (np.abs(g.X) < 9) & (pf.cy < g.Y)
        hu[vermis & ~folia] = h.gm - 1
