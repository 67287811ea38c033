"""The synthetic head-CT generator: determinism, anatomy, lesions, DICOM, CSV, CLI, demo."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from ichviewer.core.labels import LABELS, SUBTYPES
from training.demo import DEMO_COMMAND
from training.synthetic import (
    THIN_MM,
    SyntheticStudy,
    generate_study,
    image_ids,
    synth,
    write_labels_csv,
    write_study,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


def painted(seed: int, index: int = 0, **kw) -> SyntheticStudy:
    """A study as the anatomy and lesions are painted, before the simulated scan
    (training.ctsim, tested on its own): what the pixel-exact tests below look at."""
    from training.synthetic import _generate

    kw.setdefault("n_slices", None)
    kw.setdefault("lesion_types", None)
    kw.setdefault("p_negative", 0.5)
    kw.setdefault("pitched", False)
    kw.setdefault("thin", False)
    return _generate(seed, index, scanner=False, **kw)


def _read_hu(paths: list[Path]) -> tuple[np.ndarray, list[pydicom.Dataset]]:
    dss = [pydicom.dcmread(p) for p in paths]
    return np.stack([apply_modality_lut(ds.pixel_array, ds) for ds in dss]), dss


def _skull_centre(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(img > 500)
    return float(ys.mean()), float(xs.mean())


@pytest.fixture(scope="module")
def one_each() -> dict[str, tuple[SyntheticStudy, SyntheticStudy]]:
    """For each subtype: a study with only that subtype and its lesion-free twin."""
    out = {}
    for k, name in enumerate(SUBTYPES):
        args = dict(seed=11, index=k, size=128)
        out[name] = (
            painted(**args, lesion_types=[name]),
            painted(**args, lesion_types=[]),
        )
    return out


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
        cy, cx = _skull_centre(img)
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

    def test_only_requested_subtypes(self, one_each):
        for k, name in enumerate(SUBTYPES):
            s, twin = one_each[name]
            assert s.labels[:, k].any(), name
            others = [j for j in range(5) if j != k]
            assert not s.labels[:, others].any(), name
            assert not twin.labels.any() and not twin.masks.any()
            assert [d["type"] for d in s.lesions] == [name]

    def test_blood_is_painted_only_where_masked(self, one_each):
        for name, (s, twin) in one_each.items():
            m = s.masks > 0
            assert s.hu[m].mean() - twin.hu[m].mean() > 15, name  # brighter than before
            r = int(np.ceil((9 if name == "intraparenchymal" else 3) / s.pixel_spacing))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            near = np.stack([cv2.dilate(x.astype(np.uint8), kernel) for x in m]) > 0
            # A slice where only a bony partial-volume sliver (or the oedema rim) is left is
            # not labelled: allow the slices next to the labelled ones.
            for _ in range(2 if name == "intraparenchymal" else 1):
                near[1:] |= near[:-1].copy()
                near[:-1] |= near[1:].copy()
            changed = (s.hu != twin.hu) & (twin.hu < 150)  # blood half in bone reads as bone
            assert not (changed & ~near).any(), f"{name}: pixels changed far from its mask"

    def test_blood_density(self, one_each):
        for name, (s, twin) in one_each.items():
            i = int(np.argmax((s.masks > 0).sum(axis=(1, 2))))
            m = (s.masks[i] > 0) & (twin.hu[i] < 300)  # not pixels half in the skull
            val = np.median(s.hu[i][m])
            lo = 38 if name == "subarachnoid" else 45
            assert lo <= val <= 95, (name, val)

    @pytest.mark.parametrize("name", ["epidural", "subdural"])
    def test_extra_axial_blood_lies_against_the_skull(self, one_each, name):
        s, twin = one_each[name]
        rows = np.flatnonzero(s.labels[:, LABELS.index(name)])
        touching = 0
        for i in rows:
            bone = twin.hu[i] > 500
            ring = cv2.dilate((s.masks[i] > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            touching += bool((ring & bone).any())
        assert touching >= 0.8 * len(rows)
        assert np.median(twin.hu[s.masks > 0]) < 50  # over brain/CSF, not in the bone
        i = int(np.argmax((s.masks > 0).sum(axis=(1, 2))))  # and not deep in the brain:
        cy, cx = _skull_centre(twin.hu[i])
        ys, xs = np.nonzero(s.masks[i])
        r_skull = np.hypot(*(np.nonzero(twin.hu[i] > 500) - np.array([[cy], [cx]])))
        assert np.hypot(ys - cy, xs - cx).mean() > 0.75 * np.median(r_skull)

    def test_parenchymal_clot_sits_in_brain_away_from_bone(self, one_each):
        s, twin = one_each["intraparenchymal"]
        i = int(np.argmax((s.masks > 0).sum(axis=(1, 2))))
        m = s.masks[i] > 0
        assert 15 <= twin.hu[i][m].mean() <= 45  # brain under the clot
        bone = cv2.dilate((twin.hu[i] > 500).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert (m & bone).sum() < 0.05 * m.sum()

    @pytest.mark.parametrize("name", ["intraventricular", "subarachnoid"])
    def test_csf_space_blood_fills_csf(self, one_each, name):
        s, twin = one_each[name]
        m = s.masks > 0
        assert twin.hu[m].mean() < 22  # was CSF (or CSF mixed with cortex) before the bleed

    def test_intraventricular_blood_is_central_and_mid_level(self, one_each):
        s, twin = one_each["intraventricular"]
        n = s.hu.shape[0]
        rows = np.flatnonzero(s.labels[:, LABELS.index("intraventricular")])
        assert rows.min() >= 0.2 * n and rows.max() <= 0.8 * n
        for i in rows:
            cy, cx = _skull_centre(twin.hu[i])
            ys, xs = np.nonzero(s.masks[i])
            assert abs(xs.mean() - cx) * s.pixel_spacing < 40

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

    def test_an_oblique_slice_cuts_the_stack_along_the_pitch(self):
        import math

        from training.synthetic import _oblique_slice, _Stack

        z = np.arange(-40.0, 40.01, 1.25)
        n = 16
        y = ((np.arange(n) + 0.5 - n / 2) * 4.0).astype(np.float32)  # rows 4 mm apart
        hu = np.repeat(z[:, None, None], n, 1).repeat(n, 2).astype(np.float32)  # HU = z
        bits = np.zeros(hu.shape, np.uint8)
        bits[np.abs(z) < 0.7] = 1  # a lesion only in the plane at z = 0
        st = _Stack(z, 1.25, hu, bits, np.zeros_like(hu), y)
        pitch = math.radians(15)
        mean, b, _ = _oblique_slice(st, 0.0, 5.0, pitch)
        # each row averages the slab around z = y tan(pitch): HU follows the row's height
        np.testing.assert_allclose(mean[:, 0], y * math.tan(pitch), atol=0.05)
        rows = np.flatnonzero(b[:, 0])  # the lesion shows only where the slab crosses z = 0
        assert len(rows) and np.all(np.abs(y[rows] * math.tan(pitch)) <= 2.5 + 0.7)
        flat, _, _ = _oblique_slice(st, 10.0, 5.0, 0.0)
        np.testing.assert_allclose(flat, 10.0, atol=0.05)

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

    def test_unknown_subtype_is_refused(self):
        with pytest.raises(ValueError, match="chronic"):
            generate_study(0, size=64, n_slices=4, lesion_types=["chronic"])


class TestWriteStudy:
    def test_series_files_give_back_the_same_hu(self, tmp_path):
        s = generate_study(6, 0, size=128, n_slices=6, lesion_types=["subdural"])
        paths = write_study(s, tmp_path)
        assert [p.name for p in paths] == [f"{i:04d}.dcm" for i in range(1, 7)]
        hu, dss = _read_hu(paths)
        assert np.array_equal(hu, s.hu)
        ds = dss[0]
        assert ds.Modality == "CT" and ds.BodyPartExamined == "HEAD"
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert "SYNTHETIC" in ds.SeriesDescription and str(ds.PatientName).startswith("PHANTOM^")
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert (ds.BitsAllocated, ds.PixelRepresentation) == (16, 0)
        assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (-1024, 1)
        assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40, 80)
        assert float(ds.PixelSpacing[0]) == pytest.approx(s.pixel_spacing, abs=1e-5)
        assert [d.SOPInstanceUID for d in dss] == s.uids["sop_uids"]
        assert [int(d.InstanceNumber) for d in dss] == list(range(1, 7))
        assert [float(d.ImagePositionPatient[2]) for d in dss] == pytest.approx(list(s.z_mm))
        assert len({d.SeriesInstanceUID for d in dss}) == 1

    @pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # RSNA IDs, on purpose
    def test_rsna_layout_names_files_by_id(self, tmp_path):
        s = generate_study(6, 1, size=64, n_slices=4)
        paths = write_study(s, tmp_path, layout="rsna")
        for p, ds in zip(paths, _read_hu(paths)[1], strict=True):
            assert re.fullmatch(r"ID_[0-9a-f]{10}", p.stem)
            assert ds.SOPInstanceUID == p.stem
            assert re.fullmatch(r"ID_[0-9a-f]{10}", ds.StudyInstanceUID)
            assert re.fullmatch(r"ID_[0-9a-f]{10}", ds.SeriesInstanceUID)
            assert re.fullmatch(r"ID_[0-9a-f]{8}", ds.PatientID)

    def test_signed_padding_and_rle_give_back_the_same_hu(self, tmp_path):
        s = next(
            st
            for i in range(40)
            if (st := generate_study(1, i, size=64, n_slices=3)).hu.min() < -1024
        )
        assert s.hu.min() == -3024  # outside the scan circle, like RSNA's -2000 stored
        paths = write_study(s, tmp_path / "a")
        hu, dss = _read_hu(paths)
        assert dss[0].PixelRepresentation == 1 and np.array_equal(hu, s.hu)
        paths = write_study(s, tmp_path / "b", compress=True)
        hu, dss = _read_hu(paths)
        assert dss[0].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
        assert np.array_equal(hu, s.hu)

    def test_unknown_layout_is_refused(self, tmp_path):
        s = generate_study(0, size=64, n_slices=2)
        with pytest.raises(ValueError, match="layout"):
            write_study(s, tmp_path, layout="nifti")


class TestWriteLabelsCsv:
    def test_rsna_long_format(self, tmp_path):
        path = tmp_path / "x.csv"
        write_labels_csv([("ID_a", np.array([1, 0, 0, 0, 0, 1])), ("ID_b", np.zeros(6))], path)
        rows = list(csv.reader(path.open()))
        assert rows[0] == ["ID", "Label"]
        assert [r[0] for r in rows[1:7]] == [f"ID_a_{n}" for n in LABELS]
        assert [r[1] for r in rows[1:]] == ["1", "0", "0", "0", "0", "1"] + ["0"] * 6

    def test_wrong_label_count_is_refused_and_leaves_no_file(self, tmp_path):
        with pytest.raises(ValueError, match="ID_a"):
            write_labels_csv([("ID_a", np.zeros(5))], tmp_path / "x.csv")
        assert list(tmp_path.iterdir()) == []


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))[1:]


class TestSynthAndCli:
    def test_cli_writes_series_and_labels(self, tmp_path):
        out = tmp_path / "set"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "training",
                "synth",
                "--out",
                str(out),
                "--studies",
                "2",
                "--size",
                "128",
                "--seed",
                "5",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        rows = _csv_rows(out / "labels.csv")
        files = sorted(out.glob("000[01]/*.dcm"))
        assert len(rows) == 6 * len(files) and len(files) >= 48
        sops = {"ID_" + pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
        assert {r[0].rsplit("_", 1)[0] for r in rows} == sops
        assert [r[0].rsplit("_", 1)[1] for r in rows[:6]] == list(LABELS)

    def test_rsna_layout_and_workers_give_the_same_set(self, tmp_path):
        a = synth(tmp_path / "a", 2, 9, layout="rsna", size=64, workers=1)
        b = synth(tmp_path / "b", 2, 9, layout="rsna", size=64, workers=2)
        assert a.name == "stage_2_train.csv" and a.read_text() == b.read_text()
        stems = {p.stem for p in (tmp_path / "a" / "stage_2_train").glob("*.dcm")}
        assert {r[0].rsplit("_", 1)[0] for r in _csv_rows(a)} == stems
        for p in (tmp_path / "a" / "stage_2_train").glob("*.dcm"):
            assert p.read_bytes() == (tmp_path / "b" / "stage_2_train" / p.name).read_bytes()

    def test_image_ids_follow_the_layout(self):
        s = generate_study(0, size=64, n_slices=2)
        assert image_ids(s) == ["ID_" + u for u in s.uids["sop_uids"]]
        assert image_ids(s, "rsna") == s.uids["rsna"]["sop_uids"]


class TestCommittedDemo:
    def test_demo_is_small_labelled_and_consistent(self):
        files = sorted((DEMO / "series").glob("*.dcm"))
        assert files, "run: " + DEMO_COMMAND
        total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
        assert total < 8_000_000
        assert [p.name for p in files] == [f"{i:04d}.dcm" for i in range(1, len(files) + 1)]
        npz = np.load(DEMO / "masks.npz")
        masks, sops = npz["masks"], list(npz["sop_uids"])
        dss = [pydicom.dcmread(p) for p in files]
        assert [d.SOPInstanceUID for d in dss] == sops
        assert dss[0].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"  # RLE Lossless
        labels = {}
        for ident, v in _csv_rows(DEMO / "labels.csv"):
            img, name = ident.rsplit("_", 1)
            labels.setdefault(img, {})[name] = int(v)
        y = np.array([[labels["ID_" + s][n] for n in LABELS] for s in sops])
        for i in range(5):
            assert np.array_equal(y[:, i].astype(bool), ((masks & (1 << i)) > 0).any(axis=(1, 2)))
        assert (y[:, :5].any(axis=0)).sum() >= 3
        hu = apply_modality_lut(dss[len(dss) // 2].pixel_array, dss[len(dss) // 2])
        assert hu.shape == masks.shape[1:] == (512, 512)
        readme = (DEMO / "README.md").read_text()
        assert "synthetic" in readme.lower() and DEMO_COMMAND in readme
