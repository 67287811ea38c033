"""The synthetic head-CT generator: determinism, geometry, tissue, scan, slice thickness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ichviewer.core.labels import LABELS, SUBTYPES
from tests.training.phantoms import painted, skull_centre
from training.synthetic import THIN_MM, generate_study


class TestGenerateStudy:
    def test_same_seed_gives_same_pixels_and_uids(self):
        a = generate_study(3, 1, size=64, n_slices=8)
        b = generate_study(3, 1, size=64, n_slices=8)
        assert np.array_equal(a.hu, b.hu) and np.array_equal(a.masks, b.masks)
        assert a.uids == b.uids and a.lesions == b.lesions

    def test_other_seed_or_index_differs(self):
        a = generate_study(3, 1, size=64, n_slices=8)
        for other in (
            generate_study(4, 1, size=64, n_slices=8),
            generate_study(3, 2, size=64, n_slices=8),
        ):
            assert not np.array_equal(a.hu, other.hu)
            assert other.uids["study_uid"] != a.uids["study_uid"]
            assert not set(other.uids["sop_uids"]) & set(a.uids["sop_uids"])

    def test_shapes_spacing_and_slice_order(self):
        s = generate_study(5, 0, size=64)
        n = s.hu.shape[0]
        assert 24 <= n <= 40 and s.hu.shape == (n, 64, 64) and s.hu.dtype == np.int16
        assert s.labels.shape == (n, 6) and s.labels.dtype == np.uint8
        assert s.masks.shape == s.hu.shape and s.masks.dtype == np.uint8
        assert np.allclose(np.diff(s.z_mm), 5.0)
        assert s.slice_thickness == 5.0 or s.slice_thickness in THIN_MM  # thin: still 5 mm apart
        big = generate_study(5, 0, size=128)
        assert big.pixel_spacing == pytest.approx(s.pixel_spacing / 2)
        assert 0.41 <= big.pixel_spacing * 128 / 512 <= 0.53
        # Skull base first: the lowest slices hold far more bone than the vertex half.
        bone = (s.hu > 500).sum(axis=(1, 2))
        assert len(s.uids["sop_uids"]) == n
        assert bone[: n // 4].sum() > bone[n // 2 :].sum() * 0.5

    def test_tissue_hu_ranges(self):
        s = generate_study(8, 0, size=256, lesion_types=[])
        n = s.hu.shape[0]
        img = s.hu[int(0.7 * n)].astype(float)
        cy, cx = skull_centre(img)
        yy, xx = np.mgrid[:256, :256]
        r_px = 15 / s.pixel_spacing
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < r_px**2
        assert 20 <= img[disk].mean() <= 45  # brain parenchyma
        assert 2 <= img[disk].std() <= 9  # noise of a few HU, no flat cartoon
        band = img[int(cy) - 5 : int(cy) + 6]
        assert band[:, : int(cx)].max() > 700 and band[:, int(cx) :].max() > 700  # skull L and R
        corner = img[3:10, 120:136]  # anterior air inside the scan circle
        assert -1015 <= corner.mean() <= -985
        fat = (s.hu > -150) & (s.hu < -50)
        assert fat.sum() > 100  # scalp / orbital fat exists

    def test_labels_are_the_mask_bits(self):
        s = generate_study(2, 3, size=128, lesion_types=list(SUBTYPES))
        for i, name in enumerate(SUBTYPES):
            has = ((s.masks & (1 << i)) > 0).any(axis=(1, 2))
            assert np.array_equal(s.labels[:, i].astype(bool), has), name
            assert has.any(), f"{name} asked for but on no slice"
        assert np.array_equal(s.labels[:, 5], s.labels[:, :5].max(axis=1))
        assert not s.masks[s.labels[:, 5] == 0].any()

    def test_about_half_negative(self):
        studies = [generate_study(0, i, size=64, n_slices=12) for i in range(20)]
        neg = sum(not s.labels[:, 5].any() for s in studies)
        assert 6 <= neg <= 14
        for s in studies:
            kinds = {d["type"] for d in s.lesions}
            assert len(kinds) <= 3
            assert all(s.labels[:, LABELS.index(k)].any() for k in kinds)

    def test_brain_next_to_the_skull_glows_as_on_real_ct(self, monkeypatch):
        import training.synthetic as synthetic

        with_glow = painted(5, 2, size=128, n_slices=10)
        monkeypatch.setattr(synthetic, "GLOW_AMP", (0.0, 0.0))
        without = painted(5, 2, size=128, n_slices=10)
        # Same study otherwise: lesions, labels and masks do not move.
        assert np.array_equal(with_glow.masks, without.masks)
        assert np.array_equal(with_glow.labels, without.labels)
        diff = with_glow.hu.astype(np.float32) - without.hu
        assert diff.min() >= -1  # only ever brighter (1 HU of rounding)
        ps = with_glow.pixel_spacing
        near, far = [], []
        for hu, d in zip(without.hu, diff, strict=True):
            soft = ((hu > 0) & (hu < 100)).astype(np.uint8)  # brain and CSF, not bone
            d_bone = (
                np.minimum(cv2.distanceTransform((hu < 300).astype(np.uint8), cv2.DIST_L2, 5), 1e4)
                * ps
            )
            near.append(d[(soft > 0) & (d_bone > 1.5) & (d_bone < 4.5)])
            far.append(d[(soft > 0) & (d_bone > 25)])
        assert np.median(np.concatenate(near)) >= 4  # real CT: some 10-15 HU at 3 mm
        assert np.median(np.concatenate(far)) <= 1

    def test_the_scan_changes_little_far_from_a_lesion(self):
        # The simulated scan spreads a lesion a little (the kernel's tails; photon noise
        # follows the attenuation): far from it a pixel moves by a few HU at most.
        s = generate_study(11, 4, size=128, lesion_types=["subdural"])
        twin = generate_study(11, 4, size=128, lesion_types=[])
        m = s.masks > 0
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        near = np.stack([cv2.dilate(x.astype(np.uint8), kernel) for x in m]) > 0
        near[1:] |= near[:-1].copy()
        near[:-1] |= near[1:].copy()
        diff = np.abs(s.hu.astype(np.int32) - twin.hu.astype(np.int32))
        far = ~near & (twin.hu < 150)
        assert diff[m].mean() > 15  # the blood itself shows
        assert diff[far].max() <= 8 and (diff[far] > 0).mean() < 0.02

    def test_scanned_brain_noise_is_in_the_range_of_real_ct(self):
        # Real head CT resized to 192 px: 2-3 HU (5 mm) to ~5 HU (0.625 mm) between
        # neighbouring brain pixels (../shared/data/realct, measured the same way).
        sds = []
        for i in range(6):
            s = generate_study(21, i, size=192, n_slices=12, lesion_types=[])
            hu = s.hu[6].astype(np.float32)
            a, b = hu[:, :-1], hu[:, 1:]
            brain = (a > 15) & (a < 55) & (b > 15) & (b < 55)
            d = (a - b)[brain]
            sds.append(d[np.abs(d) < 20].std() / np.sqrt(2))
        assert min(sds) > 1.0 and max(sds) < 7.0
        assert max(sds) / min(sds) > 1.3  # studies differ in dose and kernel

    def test_some_studies_are_thin_slices_with_more_noise(self):
        from training.synthetic import THIN_FRACTION

        thick = [generate_study(31, i, size=64, n_slices=4).slice_thickness for i in range(30)]
        thin = [t for t in thick if t < 5.0]
        assert set(thin) <= set(THIN_MM) and 0.1 < len(thin) / 30 < 2 * THIN_FRACTION + 0.1

    def test_vessels_are_blood_dense_tubes_that_are_never_labelled(self):
        from training.synthetic import _generate

        kw = dict(size=192, n_slices=30, lesion_types=[], p_negative=0.5, scanner=False)
        with_v = _generate(7, 0, **kw)
        without = _generate(7, 0, vessels=False, **kw)
        changed = with_v.hu != without.hu
        assert changed.sum() > 300  # sinuses, basilar, MCA, cortical veins
        soft = changed & (without.hu < 100)  # not where the plane grazes the skull
        # Blood-dense, denser than what they replace (partial volume softens thin ones).
        assert 30 <= np.median(with_v.hu[soft]) <= 70
        assert np.median(with_v.hu[soft] - without.hu[soft]) > 5
        assert not with_v.labels.any() and not with_v.masks.any()

    def test_pitched_and_thick_studies_exist_and_label_blood(self):
        from training.synthetic import THICK_MM

        seen = {"thick": False}
        for i in range(12):
            s = generate_study(41, i, size=64, lesion_types=["subdural"])
            assert s.labels[:, LABELS.index("subdural")].any()
            if THICK_MM[0] <= s.slice_thickness <= THICK_MM[1]:
                seen["thick"] = True
                assert np.allclose(np.diff(s.z_mm), s.slice_thickness, atol=0.02)
        assert seen["thick"]

    def test_tilted_gantry_studies_are_thick_more_often(self):
        import math

        from training.synthetic import (
            GANTRY_TILT_DEG,
            THICK_FRACTION,
            THICK_MM,
            TILTED_THICK_FRACTION,
            protocol,
        )

        zs = np.arange(0.0, 150.0, 5.0)
        thick: dict[bool, list[bool]] = {True: [], False: []}
        for i in range(600):
            z, step, mm, pitch, _ = protocol(43, i, zs, 5.0, None, True, True)
            is_thick = THICK_MM[0] <= mm <= THICK_MM[1]
            thick[abs(pitch) >= math.radians(GANTRY_TILT_DEG)].append(is_thick)
            if is_thick:  # thick slices lie further apart
                assert step == mm and np.allclose(np.diff(z), mm)
        assert abs(np.mean(thick[True]) - TILTED_THICK_FRACTION) < 0.08
        assert abs(np.mean(thick[False]) - THICK_FRACTION) < 0.05
        flat = [protocol(43, i, zs, 5.0, None, True, False) for i in range(50)]
        assert all(p == 0 and r == 0 for *_, p, r in flat)

    def test_unknown_subtype_is_refused(self):
        with pytest.raises(ValueError, match="chronic"):
            generate_study(0, size=64, n_slices=4, lesion_types=["chronic"])


class TestObliqueSlice:
    def test_cuts_the_stack_along_the_pitch(self):
        import math

        from training.slicing import PlaneStack, oblique_slice

        z = np.arange(-40.0, 40.01, 1.25)
        n = 16
        y = ((np.arange(n) + 0.5 - n / 2) * 4.0).astype(np.float32)  # rows 4 mm apart
        hu = np.repeat(z[:, None, None], n, 1).repeat(n, 2).astype(np.float32)  # HU = z
        bits = np.zeros(hu.shape, np.uint8)
        bits[np.abs(z) < 2.0] = 1  # a lesion 3.75 mm thick: the planes at -1.25, 0, 1.25
        st = PlaneStack(z, 1.25, hu, bits, np.zeros_like(hu), y)
        pitch = math.radians(15)
        mean, b, _ = oblique_slice(st, 0.0, 5.0, pitch)
        # each row averages the slab around z = y tan(pitch): HU follows the row's height
        np.testing.assert_allclose(mean[:, 0], y * math.tan(pitch), atol=0.05)
        # the lesion is marked only where it fills half the 5 mm slab: |y tan| <= 1.875 mm
        rows = np.flatnonzero(b[:, 0])
        assert len(rows) and np.all(np.abs(y[rows] * math.tan(pitch)) <= 1.875 + 0.01)
        grazed = np.abs(y * math.tan(pitch)) < 4.3  # the slab still overlaps it here
        assert np.any(grazed & (b[:, 0] == 0))
        flat, _, _ = oblique_slice(st, 10.0, 5.0, 0.0)
        np.testing.assert_allclose(flat, 10.0, atol=0.05)

    def test_blood_a_thick_slab_only_grazes_is_not_labelled(self):
        """A 1.25 mm sheet of blood averaged into a 5 mm slab is a quarter of the contrast,
        too faint to call: unmarked. The same sheet fills half a 2.5 mm slab: marked. The
        routine 5 mm slice's two sub-planes mark what either of them holds."""
        from training.slicing import PlaneStack, filled_bits, oblique_slice

        z = np.arange(-20.0, 20.01, 1.25)
        n = 8
        y = ((np.arange(n) + 0.5 - n / 2) * 4.0).astype(np.float32)
        hu = np.zeros((len(z), n, n), np.float32)
        bits = np.zeros(hu.shape, np.uint8)
        bits[np.abs(z) < 0.7] = 4  # one sheet at z = 0, subtype bit 2
        st = PlaneStack(z, 1.25, hu, bits, np.zeros_like(hu), y)
        assert not oblique_slice(st, 0.0, 5.0, 0.0)[1].any()
        assert (oblique_slice(st, 0.0, 2.5, 0.0)[1] == 4).all()
        two = np.stack([np.array([[4, 0]], np.uint8), np.array([[5, 0]], np.uint8)])
        fill = {bit: ((two & bit) != 0).mean(axis=0) for bit in (1, 2, 4)}
        np.testing.assert_array_equal(filled_bits(fill), [[5, 0]])

    def test_a_rolled_head_is_cut_lower_on_one_side(self):
        """Rolled towards a shoulder: each column's slab lies tan(roll) mm higher per mm to
        the left, on top of the pitch along the rows."""
        import math

        from training.slicing import PlaneStack, oblique_slice

        z = np.arange(-40.0, 40.01, 1.25)
        n = 16
        y = ((np.arange(n) + 0.5 - n / 2) * 4.0).astype(np.float32)
        hu = np.repeat(z[:, None, None], n, 1).repeat(n, 2).astype(np.float32)  # HU = z
        st = PlaneStack(z, 1.25, hu, np.zeros(hu.shape, np.uint8), np.zeros_like(hu), y)
        pitch, roll = math.radians(10), math.radians(-6)
        mean, _, _ = oblique_slice(st, 2.0, 5.0, pitch, roll)
        expect = 2.0 + y[:, None] * math.tan(pitch) + y[None, :] * math.tan(roll)
        np.testing.assert_allclose(mean, expect, atol=0.05)
        assert mean[0, 0] > mean[0, -1]  # the first columns lie higher in the slab


class TestPartialVolumeAtTheInnerTable:
    def test_an_oblique_inner_table_fades_into_the_brain(self):
        """Two sub-planes whose inner table lies 6 mm apart in-plane: the slab must ramp
        from brain to bone across those 6 mm (many levels, blood-like HU among them), not
        step from brain to half bone as a plain mean of the planes does."""
        from training.slicing import zmix

        x = np.arange(0.0, 20.0, 0.25)  # mm along a row, inner table at 7 mm / 13 mm
        edges = (7.0, 13.0)
        hu = np.stack([np.where(x < e, 35.0, 1500.0) for e in edges]).astype(np.float32)
        sdf = np.stack([e - x for e in edges]).astype(np.float32)
        across = np.stack([np.where(x < e, 1500.0, 35.0) for e in edges]).astype(np.float32)
        plain = hu.mean(axis=0)
        mixed = zmix(hu[:, None, :], sdf[:, None, :], across[:, None, :]).mean(axis=0)[0]
        assert len(np.unique(plain)) == 3  # brain, half bone, bone
        ramp = mixed[(x > 4.0) & (x < 16.0)]  # the table at the slab's faces: 4 and 16 mm
        assert np.all(np.diff(mixed) >= -1e-3)  # brain to bone, never back
        assert len(np.unique(np.round(ramp))) > 10
        assert np.any((ramp > 50) & (ramp < 110))  # the blood-like margin real scans show
        # exactly the 5 mm slab through a table that runs linearly from 4 mm to 16 mm
        exact = 35.0 + 1465.0 * np.clip((x - 4.0) / 12.0, 0.0, 1.0)
        np.testing.assert_allclose(mixed, exact, atol=0.5)

    def test_planes_that_agree_are_left_alone(self):
        from training.slicing import zmix

        rng = np.random.default_rng(0)
        hu = rng.normal(30, 5, (3, 8, 8)).astype(np.float32)
        sdf = np.full((3, 8, 8), 4.0, np.float32)  # all inside the cavity
        sdf[0] = 6.0  # receding from the table downwards: no crossing within the slab
        np.testing.assert_array_equal(zmix(hu, sdf, np.full_like(hu, 1500.0)), hu)


class TestSkull:
    @staticmethod
    def lateral_bone_mm(seed: int, frac: float) -> tuple[float, float]:
        """(lateral skull width mm, head.t_lat) at height ``frac`` of the head, on the row
        through the temporal lobes' centre, from the outermost bone pixel inward."""
        from training.anatomy import Head
        from training.phantom import Phantom

        rng = np.random.default_rng(seed)
        head = Head.sample(rng)
        n, fov = 512, 230.0
        ps = fov / n
        skull = Phantom(head, rng, n, fov, np.array([0.0, head.H])).render(frac * head.H).skull
        row = skull[int(round(-0.10 * head.B / ps + n / 2 - 0.5))]
        first = int(np.flatnonzero(row)[0])
        width = int(np.argmin(row[first:]))  # bone pixels until the first that is not
        return width * ps, head.t_lat

    @pytest.mark.parametrize("seed", [0, 1, 3])
    def test_the_temporal_squama_is_the_thinnest_bone_of_the_vault(self, seed: int) -> None:
        # Real temporal squama is about 1.5-3 mm, the parietal bone above it 3-5 mm; a thick
        # phantom squama teaches nothing about the partial-volume rim a thin one makes.
        squama, t_lat = self.lateral_bone_mm(seed, 0.3)
        parietal, _ = self.lateral_bone_mm(seed, 0.7)
        assert 1.0 <= squama <= 3.2
        assert parietal >= t_lat - 0.5 and parietal > squama + 1.0


class TestScalp:
    @pytest.mark.parametrize("seed", [0, 1, 3])
    def test_the_temporalis_is_a_muscle_brighter_than_grey_matter(self, seed: int) -> None:
        # Real temporalis reads 45-60 HU, 5-15 mm thick lateral to the squama at the sylvian
        # level; a phantom scalp of 34 HU never shows a network that grey crescent outside
        # a thin bone, and real CT's temporalis was called "subdural".
        from training.anatomy import Head
        from training.phantom import Phantom

        rng = np.random.default_rng(seed)
        head = Head.sample(rng)
        n, fov = 512, 230.0
        ps = fov / n
        m = Phantom(head, rng, n, fov, np.array([0.0, head.H])).render(0.4 * head.H)
        row = int(round(-0.10 * head.B / ps + n / 2 - 0.5))
        hu, skull = m.hu[row], m.skull[row]
        outside = hu[int(np.flatnonzero(hu > -500)[0]) : int(np.flatnonzero(skull)[0])]
        muscle = outside[outside > 0][-int(4 / ps) :]  # the 4 mm next to the bone
        assert len(outside) * ps >= 6.0
        assert 40 <= muscle.mean() <= 65 and muscle.mean() > head.gm + 5


def test_brain_is_drawn_at_every_scanners_level():
    """Scanners put grey matter several HU apart (low 30s to mid 40s): a generator drawing
    it in a narrow band teaches a network one calibration, and a darker real brain (ge_head)
    then makes the inner-table rim look like blood."""
    from training.anatomy import Head

    heads = [Head.sample(np.random.default_rng(s)) for s in range(300)]
    gm = np.array([h.gm for h in heads])
    wm = np.array([h.wm for h in heads])
    assert gm.min() < 33 and gm.max() > 42.5
    assert np.all(wm < gm - 5)  # white matter stays darker than grey, whatever the level


def test_computing_the_cortex_cerebellum_and_tent_on_their_boxes_changes_no_pixel(monkeypatch):
    """The phantom computes the gyri, the cerebellum and the tentorium only around the
    cavity, the cerebellum and the posterior fossa: every rendered plane (float HU) must
    be what the whole-plane computation gives, bit for bit, at heights given as numpy
    and as Python floats (the two paths of training.slicing)."""
    from training import phantom, tentorium
    from training.anatomy import Head

    def whole(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice]:
        return (slice(None), slice(None))

    def planes() -> list[np.ndarray]:
        out = []
        for seed in (3, 4):
            rng = np.random.default_rng(seed)
            head = Head.sample(rng)
            zs = np.linspace(-0.05 * head.H, 1.02 * head.H, 24)
            ph = phantom.Phantom(head, rng, 192, 250.0, zs)
            out += [ph.render(z, i).hu for i, z in enumerate(zs)]  # numpy float64 heights
            out += [ph.render(float(z), 0).hu for z in zs[::3]]  # Python floats, one index
        return out

    boxed = planes()
    monkeypatch.setattr(phantom, "pixel_box", whole)
    monkeypatch.setattr(tentorium, "pixel_box", whole)
    for k, (a, b) in enumerate(zip(boxed, planes(), strict=True)):
        assert np.array_equal(a, b), f"plane {k}: {np.count_nonzero(a != b)} pixels differ"
