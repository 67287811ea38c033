"""The simulated acquisition (training.ctsim): flat regions read back at their HU, noise
follows the dose, and bone leaves the beam-hardening streaks a real scanner leaves."""

from __future__ import annotations

import numpy as np
import pytest

from training import ctsim

N = 128
PS = 1.8  # mm: a 23 cm field of view


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = (np.arange(N) - (N - 1) / 2) / (N / 2)
    x, y = np.meshgrid(c, c)
    return x, y, np.hypot(x, y)


def _scan(hu: np.ndarray, **kw: float) -> np.ndarray:
    acq = ctsim.Acquisition(**{"dose": 1e12, "bone_residual": 0.0, "cutoff": 0.8, **kw})
    return ctsim.acquire(hu, PS, acq, np.random.default_rng(0))


class TestAcquire:
    def test_water_and_air_read_back_without_noise(self):
        _, _, r = _grid()
        hu = np.where(r < 0.7, 40.0, -1000.0).astype(np.float32)
        rec = _scan(hu)
        assert rec[r < 0.5].mean() == pytest.approx(40.0, abs=1.0)
        assert rec[(r > 0.8) & (r < 0.95)].mean() == pytest.approx(-1000.0, abs=3.0)

    def test_noise_falls_with_dose(self):
        _, _, r = _grid()
        hu = np.where(r < 0.7, 40.0, -1000.0).astype(np.float32)
        low = _scan(hu, dose=2e5)[r < 0.5].std()
        high = _scan(hu, dose=8e5)[r < 0.5].std()
        assert 2 < low < 30
        assert high == pytest.approx(low / 2, rel=0.25)  # sd ~ 1/sqrt(dose)

    def test_bone_leaves_a_dark_band_the_bone_correction_reduces(self):
        # Two dense "petrous bones" either side of brain: the band between them is darker
        # than the brain above it when the bone error is left in, much less when corrected.
        x, y, r = _grid()
        hu = np.where(r < 0.75, 35.0, -1000.0).astype(np.float32)
        for cx in (-0.35, 0.35):
            hu[np.hypot(x - cx, y) < 0.12] = 1600.0
        between = (np.abs(x) < 0.12) & (np.abs(y) < 0.03)
        away = (np.abs(x) < 0.12) & (np.abs(y - 0.45) < 0.03)
        raw = _scan(hu, bone_residual=1.0)
        fixed = _scan(hu, bone_residual=0.0)
        dip_raw = raw[away].mean() - raw[between].mean()
        dip_fixed = fixed[away].mean() - fixed[between].mean()
        assert dip_raw > 8.0
        assert abs(dip_fixed) < dip_raw / 3

    def test_basis_gives_back_the_hu_at_the_reference_energy(self):
        hu = np.array([-1000.0, -100.0, 0.0, 40.0, 100.0, 700.0, 1600.0], np.float32)
        w, b = ctsim.basis(hu)
        mu = w * ctsim.MU_REF_WATER + b * ctsim.MU_REF_WATER * ctsim.BONE_RATIO
        np.testing.assert_allclose(1000 * (mu / ctsim.MU_REF_WATER - 1), hu, atol=0.5)
        assert (b[:5] == 0).all() and (b[5:] > 0).all()

    def test_same_seed_same_pixels(self):
        _, _, r = _grid()
        hu = np.where(r < 0.7, 40.0, -1000.0).astype(np.float32)
        acq = ctsim.Acquisition(dose=3e5, bone_residual=0.5, cutoff=0.8)
        a = ctsim.acquire(hu, PS, acq, np.random.default_rng(7))
        b = ctsim.acquire(hu, PS, acq, np.random.default_rng(7))
        np.testing.assert_array_equal(a, b)

    def test_an_off_centre_dot_reads_back_in_place_without_mirror_ghosts(self):
        # One rotation serves four views (90-degree turns and transposes of it): a view put
        # in the wrong place would leave a ghost of the dot at a mirrored position.
        x, y, r = _grid()
        hu = np.where(r < 0.8, 35.0, -1000.0).astype(np.float32)
        hu[np.hypot(x - 0.4, y + 0.25) < 0.08] = 600.0
        rec = _scan(hu)
        assert rec[np.hypot(x - 0.4, y + 0.25) < 0.03].mean() == pytest.approx(600.0, rel=0.1)
        for mx, my in ((-0.4, -0.25), (0.4, 0.25), (-0.4, 0.25), (-0.25, 0.4), (0.25, -0.4)):
            ghost = np.hypot(x - mx, y - my) < 0.08
            assert abs(rec[ghost].mean() - 35.0) < 5.0, (mx, my)


def test_each_view_is_the_image_rotated_by_its_own_angle():
    import cv2

    x, y, r = _grid()
    img = ((r < 0.7) + 2.0 * (np.hypot(x + 0.3, y - 0.2) < 0.15)).astype(np.float32)
    img[(np.abs(x - 0.2) < 0.05) & (np.abs(y) < 0.5)] += 0.3
    views = 240
    direct = np.stack(
        [
            cv2.warpAffine(img, m, (N, N), flags=cv2.INTER_LINEAR, borderValue=0).sum(axis=0)
            for m in ctsim._rotations(N, views)
        ]
    )
    np.testing.assert_allclose(ctsim.project(img, views), direct, atol=1e-3 * direct.max())
    with pytest.raises(ValueError, match="multiple of 4"):
        ctsim.project(img, 90)
