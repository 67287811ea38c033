"""The tentorium is a tent: an axial cut gives a V whose arms meet behind, on the midline."""

from __future__ import annotations

import numpy as np

from training.anatomy import Ell
from training.tentorium import Tent

PF = Ell(0.0, 40.0, 20.0, 55.0, 45.0, 23.0, p=2.2)


def _tent(**kw) -> Tent:
    base = Tent.draw(PF, np.random.default_rng(0))
    return base.__class__(**{**base.__dict__, **kw})


def _grid(ps: float = 0.5):
    c = np.arange(-80, 100, ps, dtype=np.float32)
    return np.meshgrid(c, c)  # gx (left), gy (posterior)


def test_an_axial_cut_is_a_v_closing_behind_on_the_midline():
    t = _tent(dura_hu=25.0)
    gx, gy = _grid()
    z = t.z_apex - 8.0
    hu = np.full(gx.shape, 30.0, np.float32)
    t.paint(gx, gy, z, hu, np.ones(gx.shape, bool), gm=35.0)
    sheet = hu > 31.0
    ys = [gy[sheet & (np.abs(gx - x) < 0.3)].mean() for x in (-30.0, -15.0, 15.0, 30.0)]
    # Further from the midline the leaf is met further forward (smaller gy): a V open in front.
    assert ys[0] < ys[1] and ys[3] < ys[2]
    assert abs(ys[0] - ys[3]) < 1.0 and abs(ys[1] - ys[2]) < 1.0  # left and right alike
    behind = gy[sheet & (np.abs(gx) < 1.0)]
    assert behind.min() > t.y_apex  # the arms meet behind the apex, where the sinus runs
    # No leaf in the incisura in front of the apex: the midbrain passes there.
    assert not sheet[(np.abs(gx) < t.notch - 1) & (gy < t.y_apex - 1)].any()


def test_the_fossa_lies_under_the_tent_and_a_steep_leaf_reads_thicker():
    t = _tent()
    gx, gy = _grid()
    h = t.height(gx, gy)
    z = t.z_apex - 10.0
    below = t.below(gx, gy, z)
    assert below[h > z + 0.5].all() and not below[(h < z - 0.5) & (z > t.z_floor)].any()
    assert t.below(gx, gy, t.z_floor - 0.5).all()  # under the torcula's level: all fossa
    # Partial volume: a plane cuts a gently sloping leaf over a wide band, each pixel only
    # partly dura (faint); a steep leaf gives a narrow band, more of each pixel dura (bright).
    gentle, steep = _tent(leaf=0.3, ridge=0.3, dura_mm=1.0), _tent(leaf=1.2, ridge=1.2, dura_mm=1.0)
    widths, peaks = [], []
    for tt in (gentle, steep):
        hu = np.zeros(gx.shape, np.float32)
        tt.paint(gx, gy, tt.z_apex - 6.0, hu, np.ones(gx.shape, bool), gm=0.0)
        row = hu[np.argmin(np.abs(gy[:, 0] - (tt.y_apex - 5.0)))]  # across one leaf, in front
        widths.append(int((row[gx[0] > tt.notch] > 0).sum()))
        peaks.append(float(row.max()))
    assert widths[0] > 2 * widths[1]
    assert peaks[1] > peaks[0] > 0
