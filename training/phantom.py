"""Head-CT phantom slices in Hounsfield units.

The head is a set of ellipsoids in a head frame (training.anatomy) whose sections are
deformed by smooth random fields, so no two studies look alike. :meth:`Phantom.render`
draws one axial slice in the head frame and returns the tissue maps lesions.py needs to put
hemorrhages where they belong.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace

import cv2
import numpy as np

from training.anatomy import Head, anatomy
from training.grid import Grid, dist_mm, pixel_box, smooth_noise, zero_lines
from training.tentorium import Tent

AIR = -1000.0
#: Skeletal muscle (temporalis, nuchal muscles), mean HU; a smooth field adds +-6.
MUSCLE_HU = 52.0


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
        tent_rng = np.random.default_rng([self._seed, zlib.crc32(b"tentorium")])
        self.tent = Tent.draw(self.parts["pf"][0], tent_rng)

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
        g = self._grid(z)
        hu = np.full((self.n, self.n), AIR, np.float32)
        body = self._scalp(g, z, hu)
        cav, skull = self._bone(g, z, hu, body)
        d_in, infra, sup, brain, csf = self._parenchyma(g, z, hu, cav)
        brain, csf, vent, fissure = self._deep(g, z, hu, cav, sup, brain, csf)
        self._dura(g, z, hu, fissure, infra, sup, d_in)
        return SliceMaps(z, hu, g, cav, d_in, brain, csf, vent, infra, skull)

    def _scalp(self, g: Grid, z: float, hu: np.ndarray) -> np.ndarray:
        """Scalp: skin, subcutaneous fat, muscle; fat planes in the neck and face. Returns
        the head's outline (body)."""
        t = z / self.head.H
        body = g.mask(self.parts["body"], z)
        d_skin = dist_mm(body, self.ps)
        hu[body] = 34.0 + 5 * self._f("scalp", 20.0)[body]
        fat_th = 1.0 + 1.0 * self._f("fat", 30.0) + 8 * max(0.0, 0.3 - t)
        hu[body & (d_skin > 1.3) & (d_skin < 1.3 + fat_th)] = -95.0
        muscle = self._muscles(g, z, body & (d_skin > 1.8 + fat_th))
        hu[muscle] = (MUSCLE_HU + 6 * self._f("muscle", 60.0))[muscle]
        if t < 0.3:
            planes = self._f("planes", 12.0) > 1.9
            hu[body & planes & (d_skin > 4)] = -85.0
        return body

    def _muscles(self, g: Grid, z: float, deep: np.ndarray) -> np.ndarray:
        """Where the scalp's deep layer is muscle: the temporalis over each temporal fossa
        and the nuchal muscles behind the posterior fossa. Skeletal muscle reads 45-60 HU,
        brighter than grey matter: on real CT the temporalis is a grey crescent hugging the
        thin squama, the look of an extra-axial bleed to a network that never saw it."""
        parts = self.parts["body"]
        temporalis = g.mask(parts[1:3] + self.parts["temporalis"], z)
        nuchal = g.mask(parts[3:4], z) & (g.Y > 0.35 * self.head.B)
        return deep & (temporalis | nuchal)

    def _bone(
        self, g: Grid, z: float, hu: np.ndarray, body: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bone, air spaces, nose and orbits; returns the cranial cavity and the skull."""
        h, P = self.head, self.parts
        bone = g.mask(P["outer"], z) & body
        g.mask(P["base_bone"], z, out=bone)
        cav = g.mask(P["cavity"], z) & ~g.mask(P["base_bone"] + P["orbit_fat"], z)
        air = g.mask(P["sinus_air"] + P["ear_canal"], z)
        honey = g.mask(P["ethmoid"] + P["mastoid"], z)
        honey &= np.abs(self._f("honey", 6.0)) > 0.35
        soft_eye = g.mask(P["orbit_fat"], z)
        skull = bone & ~cav & ~air & ~honey & ~soft_eye
        d_bone = dist_mm(skull, self.ps)
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
        return cav, skull

    def _parenchyma(self, g: Grid, z: float, hu: np.ndarray, cav: np.ndarray) -> tuple:
        """Cavity contents: CSF, then parenchyma, cortex and sulci, cerebellum. Returns
        (d_in, infra, sup, brain, csf)."""
        h = self.head
        d_in = dist_mm(cav, self.ps)
        hu[cav] = h.csf
        infra = g.mask(self.parts["pf"], z) & cav & self.tent.below(g.X, g.Y, z)
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
        return d_in, infra, sup, brain, csf

    def _deep(
        self,
        g: Grid,
        z: float,
        hu: np.ndarray,
        cav: np.ndarray,
        sup: np.ndarray,
        brain: np.ndarray,
        csf: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Deep grey, fissures, cisterns, brainstem, ventricles, periventricular white
        matter disease. Returns (brain, csf, vent, interhemispheric fissure)."""
        h, P, ps = self.head, self.parts, self.ps
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
        vent = np.zeros((self.n, self.n), np.uint8)
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
        return brain, csf, vent, fissure

    def _dura(
        self,
        g: Grid,
        z: float,
        hu: np.ndarray,
        fissure: np.ndarray,
        infra: np.ndarray,
        sup: np.ndarray,
        d_in: np.ndarray,
    ) -> None:
        """Dura: falx in the fissure, the tentorium's leaves and straight sinus (a tent over
        the posterior fossa, training.tentorium), sagittal sinus."""
        h, t = self.head, z / self.head.H
        falx = fissure & (np.abs(g.X) < 0.6 * self.ps + 0.2)
        hu[falx] = h.gm + 22
        near_pf = (sup | infra) & g.mask([self.parts["pf"][0].grow(2.0)], z)
        self.tent.paint(g.X, g.Y, z, hu, near_pf, h.gm)
        # Triangular in section, its base on the inner table; it widens towards the torcula.
        sss_d = 4.0 + 4.0 * np.clip(g.Y / h.B, 0.0, 1.0)
        sss = sup & (d_in < sss_d) & (np.abs(g.X) < (sss_d - d_in) * 0.8)
        sss &= (g.Y > 0) | (t > 0.55)
        hu[sss] = h.gm + 17

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
        h = self.head
        k = self.parts["cerebrum"][0].k(z) or 0.3
        per = math.pi * (h.A + h.B) * k
        # (cached by the first plane of the index, cavity or not: keep it first)
        n_t = self._cache.setdefault("n_t", max(12, round(per / (h.gyrus_mm * 0.5))))
        grey = np.zeros(sup.shape, bool)
        box = pixel_box(sup, pad=2)  # nothing outside the cavity changes: compute only its box
        if box is None:
            return grey, np.zeros(sup.shape, np.float32)
        grey[box], frac_box = self._gyri(g, z, depth, sup, n_t, box)
        frac = np.zeros(sup.shape, frac_box.dtype)  # (float64 where z is)
        frac[box] = frac_box
        return grey, frac

    def _gyri(
        self,
        g: Grid,
        z: float,
        depth: np.ndarray,
        sup: np.ndarray,
        n_t: int,
        box: tuple[slice, slice],
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_cortex` inside ``box`` (every pixel of it as on the whole plane)."""
        h, ps = self.head, self.ps
        # contiguous copies: numpy's vector loops (exp, arctan2) round as on the whole plane
        X, Y, depth, sup = (np.ascontiguousarray(a[box]) for a in (g.X, g.Y, depth, sup))
        low = self._rng("gyri").standard_normal((4, n_t)).astype(np.float32)
        wig = np.ascontiguousarray(self._f("wiggle", 9.0)[box])
        u = (np.arctan2(Y, X) + math.pi) * (n_t / (2 * math.pi)) + 0.35 * wig
        u = u.astype(np.float32)
        v = np.clip(depth / 24.0 + 0.15 * wig, 0, 2.5).astype(np.float32)
        f = cv2.remap(low, u, v, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        f += 0.45 * self._f("gyri_iso", 6.0)[box]
        deep_lo = self._rng("depth").uniform(0, 1, (1, n_t)).astype(np.float32)
        sdepth = 5 + 14 * cv2.remap(
            deep_lo, u, np.zeros_like(v), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP
        )
        syl = 0.0
        for e in self.parts["sylvian"][:2]:  # wide, deep sulci around the sylvian fissure
            syl = syl + np.exp(
                -((X - 1.15 * e.cx) ** 2 + (Y - e.cy) ** 2) / 400 - ((z - e.cz) / 14) ** 2
            )
        sdepth = sdepth + 14 * syl
        line = zero_lines(f) & sup & (depth < sdepth)
        line |= zero_lines(self._f("branches", 7.0)[box]) & sup & (depth < 2.5 + 2 * wig)
        # on the whole plane: the transform's sums would round differently on the box
        off = np.ones(g.X.shape, np.uint8)
        off[box] = ~line
        d_line = np.minimum(cv2.distanceTransform(off, cv2.DIST_L2, 3)[box], 1e4) * ps
        hw = self._f("width", 15.0)[box]
        hw = np.clip(0.45 + 1.2 * h.atrophy + 0.45 * hw + 1.2 * syl, 0.05, 3)
        frac = np.clip((hw - d_line) / ps + 0.5, 0, 1)
        frac[~sup] = 0
        cortex = 2.4 + 0.5 * self._f("cortex", 20.0)[box]
        grey = sup & ((depth < cortex) | ((d_line < hw + cortex) & (depth < sdepth + cortex)))
        return grey, frac

    def _cerebellum(self, g: Grid, depth: np.ndarray, cb: np.ndarray, hu: np.ndarray) -> None:
        """Cerebellum: grey-white mix with folia running along the surface."""
        box = pixel_box(cb)  # only the cerebellum's box changes
        if box is None:
            return
        h = self.head
        pf = self.parts["pf"][0]
        X, Y, depth, cb, hu = g.X[box], g.Y[box], depth[box], cb[box], hu[box]
        n_t = 10
        low = self._rng("folia").standard_normal((12, n_t)).astype(np.float32)
        u = ((np.arctan2(Y - pf.cy, X) + math.pi) * (n_t / (2 * math.pi))).astype(np.float32)
        v = np.clip(depth / 3.0, 0, 10.5).astype(np.float32)
        f = cv2.remap(low, u, v, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        hu[cb] = h.gm - 3 + 1.2 * self._f("cerebellum", 15.0)[box][cb]
        folia = cb & (np.abs(f) < 0.18) & (depth < 12)
        hu[folia] = h.csf + 8
        vermis = cb & (np.abs(X) < 9) & (pf.cy < Y)
        hu[vermis & ~folia] = h.gm - 1


def bone_glow(m: SliceMaps) -> np.ndarray:
    """The skull's excess over soft tissue on this slice (HU, 0 off the skull): what
    :func:`glow` spreads. Taken before lesions are painted, so blood never glows."""
    return np.where(m.skull, np.clip(m.hu - 100.0, 0.0, None), 0.0).astype(np.float32)


def glow(bone: np.ndarray, ps: float, amp: float, sigma_mm: float) -> np.ndarray:
    """The scanner's glow around bone: a fraction ``amp`` of the skull's excess HU
    (:func:`bone_glow`) spread by a Gaussian of ``sigma_mm`` (point-spread tail, scatter,
    uncorrected beam hardening). On real head CT it lifts the brain next to the inner table
    by some 10-15 HU at 3 mm, fading by 6 mm; without it a phantom teaches a network that
    any bright rim inside the skull is a subdural."""
    return amp * cv2.GaussianBlur(bone, (0, 0), sigma_mm / ps)
