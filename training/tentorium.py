"""The tentorium cerebelli as a tent, not as the rim of an ellipsoid.

Real tentorial leaves rise from the transverse sinuses and petrous ridges to a ridge along
the midline (the straight sinus) whose highest point is the apex of the incisura. An axial
slice cuts that tent in a V whose arms meet on the midline behind, and where a leaf is
nearly flat the thin dura is cut so obliquely that it reads as a band several millimetres
wide, brighter than brain. The posterior fossa's ellipsoid alone gives an oval ring of one
pixel instead, and no straight sinus.

:class:`Tent` is drawn per phantom from its own generator (the other draws of the phantom
are unchanged). ``below`` trims the posterior fossa to the tent; ``paint`` adds the dural
sheet, with the partial volume of its slope, and the straight sinus along the ridge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.anatomy import Ell
from training.grid import pixel_box

#: Each plane stands for a layer this thick (mm) when the sheet's partial volume is taken:
#: the renderer's sub-planes lie 1.25-2.5 mm apart.
LAYER_MM = 2.0
#: The incisura (where the midbrain passes) closes over this length (mm) behind the apex.
NOTCH_TAPER_MM = 10.0
#: A nearly flat leaf is never drawn more than this much (mm) thick along z.
MAX_SPAN_MM = 10.0


@dataclass(frozen=True)
class Tent:
    """Tentorium of one head (mm, head frame: x left, y posterior, z up)."""

    y_apex: float  # apex of the incisura (highest point of the ridge)
    z_apex: float
    z_floor: float  # the torcula's level: all fossa below it is infratentorial
    ridge: float  # tan of the ridge's fall towards the torcula
    leaf: float  # tan of the leaves' fall towards the sides
    notch: float  # half-width of the incisura (mm)
    dura_mm: float  # thickness of the leaves
    dura_hu: float  # excess over grey matter
    sinus_mm: float  # radius of the straight sinus
    sinus_hu: float  # excess over grey matter

    @classmethod
    def draw(cls, pf: Ell, rng: np.random.Generator) -> Tent:
        """A random tent over the posterior fossa ``pf``: its apex near the fossa's top,
        its ridge falling to the torcula at the back of the fossa, a little above the
        fossa's widest section (the transverse sinuses run level from there)."""
        y_apex = pf.cy - rng.uniform(0.05, 0.25) * pf.b
        z_apex = pf.cz + rng.uniform(0.85, 1.0) * pf.c
        z_torcula = pf.cz + rng.uniform(0.0, 0.2) * pf.c
        return cls(
            y_apex=y_apex,
            z_apex=z_apex,
            z_floor=z_torcula,
            ridge=(z_apex - z_torcula) / (pf.cy + pf.b - y_apex),
            leaf=math.tan(math.radians(rng.uniform(15, 30))),
            notch=rng.uniform(11, 15),
            dura_mm=rng.uniform(0.8, 2.4),
            dura_hu=rng.uniform(12, 40),
            sinus_mm=rng.uniform(1.8, 3.0),
            sinus_hu=rng.uniform(18, 32),
        )

    def _free(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (mm) outside the incisura, whose half-width narrows to 0 over the
        NOTCH_TAPER_MM behind the apex."""
        taper = np.clip(1.0 - (y - self.y_apex) / NOTCH_TAPER_MM, 0.0, 1.0)
        return np.abs(x) - self.notch * taper

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height (mm) of the tent above every (x, y): the leaves fall sideways from the
        incisura's free edge, and behind the apex the ridge falls to the torcula."""
        back = np.maximum(y - self.y_apex, 0.0)
        return self.z_apex - self.ridge * back - self.leaf * np.maximum(self._free(x, y), 0.0)

    def surface(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height (mm) of the fossa's roof over every (x, y): the tent, never below the
        torcula's level. Where it meets the fossa's wall is the attached margin, in which
        the transverse sinuses run (training.vessels)."""
        return np.maximum(self.height(x, y), self.z_floor)

    def below(self, x: np.ndarray, y: np.ndarray, z: float) -> np.ndarray:
        """Where the plane at height z lies under the tent (or in the incisura below its
        apex: the brainstem)."""
        return z < self.surface(x, y)

    def paint(
        self, x: np.ndarray, y: np.ndarray, z: float, hu: np.ndarray, where: np.ndarray, gm: float
    ) -> None:
        """Add the leaves and the straight sinus to ``hu`` inside ``where`` (in place).

        Only the box around ``where`` is computed (nothing is added outside it): most
        planes of a head lie above the posterior fossa and have none."""
        box = pixel_box(where)
        if box is not None:
            self._paint(x[box], y[box], z, hu[box], where[box], gm)

    def _paint(
        self, x: np.ndarray, y: np.ndarray, z: float, hu: np.ndarray, where: np.ndarray, gm: float
    ) -> None:
        h = self.height(x, y)
        dz = np.where(h > self.z_floor - 1.0, np.abs(z - h), np.inf)
        slope2 = self.leaf**2 + np.where(y > self.y_apex, self.ridge**2, 0.0)
        span = np.minimum(self.dura_mm * np.sqrt(1.0 + slope2), MAX_SPAN_MM)
        frac = _overlap(dz, span) * where
        frac[self._free(x, y) < 0.0] = 0.0  # the incisura has no leaf
        # The straight sinus: a tube along the ridge, from the apex back to the torcula.
        ridge_h = self.z_apex - self.ridge * (y - self.y_apex)
        ridge_dz = np.abs(z - ridge_h)
        r = self.sinus_mm
        tube = (y > self.y_apex) & (np.abs(x) < r) & (ridge_h > self.z_floor - 1.0)
        depth = np.sqrt(np.clip(r * r - x * x, 0.0, None)) * math.sqrt(1.0 + self.ridge**2)
        sinus = np.where(tube, _overlap(ridge_dz, 2.0 * depth), 0.0) * where
        hu += (
            np.maximum(frac * (gm + self.dura_hu - hu), sinus * (gm + self.sinus_hu - hu))
            .clip(0.0, None)
            .astype(np.float32)
        )


def _overlap(dz: np.ndarray, span: np.ndarray | float) -> np.ndarray:
    """Share of a LAYER_MM layer centred dz (mm) from a sheet ``span`` mm thick along z."""
    lo = np.maximum(dz - span / 2, -LAYER_MM / 2)
    hi = np.minimum(dz + span / 2, LAYER_MM / 2)
    return (np.clip(hi - lo, 0.0, None) / LAYER_MM).astype(np.float32)
