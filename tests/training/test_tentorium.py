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


def _sinus_behind(v, pf: Ell) -> np.ndarray:
    """The vessel points behind the fossa's centre and below its upper half: the transverse
    sinuses (every other vessel there runs higher or in front)."""
    p = v.pts
    return p[(p[:, 1] > pf.cy + 0.3 * pf.b) & (p[:, 2] < pf.cz + 0.5 * pf.c)]


def test_the_transverse_sinuses_run_in_the_tentoriums_attached_margin():
    from training.anatomy import Head, anatomy
    from training.vessels import sample_vessels

    head = Head.sample(np.random.default_rng(3))
    pf = anatomy(head)["pf"][0]
    tent = Tent.draw(pf, np.random.default_rng(4))
    sinus = _sinus_behind(sample_vessels(np.random.default_rng(5), head, tent, pf), pf)
    assert len(sinus) > 50
    # Behind, on the midline, it meets the end of the tent's ridge (the torcula) ...
    mid = sinus[np.abs(sinus[:, 0]) < 2.0]
    assert len(mid)
    assert np.abs(mid[:, 2] - tent.surface(mid[:, 0], mid[:, 1])).max() < 2.0
    # ... and round the side it follows the fossa's wall, just inside it.
    k = np.array([pf.k(z) for z in sinus[:, 2]])
    r = np.hypot(sinus[:, 0] / (pf.a * k), (sinus[:, 1] - pf.cy) / (pf.b * k))
    assert 0.85 < np.median(r) < 1.0
    # A tent set 6 mm higher carries the sinus with it; the other vessels stay where they were.
    up = Tent(**{**tent.__dict__, "z_apex": tent.z_apex + 6, "z_floor": tent.z_floor + 6})
    v_up = sample_vessels(np.random.default_rng(5), head, up, pf)
    rise = np.median(_sinus_behind(v_up, pf)[:, 2]) - np.median(sinus[:, 2])
    assert 4.0 < rise < 8.0
    v = sample_vessels(np.random.default_rng(5), head, tent, pf)
    high = v.pts[:, 2] > pf.cz + pf.c
    assert np.array_equal(v.pts[high], v_up.pts[v_up.pts[:, 2] > pf.cz + pf.c])
