"""Rulers, ROI statistics, ABC/2 and the measurement list: on known geometry and HU."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ichviewer.core.measure import (
    EllipseROI,
    HematomaVolume,
    Measurements,
    PolygonROI,
    Ruler,
    abc_over_2,
    slab_length_mm,
)


class TestRuler:
    def test_length_on_anisotropic_pixels(self):
        # 30 columns x 0.5 mm and 40 rows x 0.8 mm: 15 mm across, 32 mm down.
        r = Ruler(0, (10.0, 20.0), (40.0, 60.0))
        assert r.length_mm((0.8, 0.5)) == pytest.approx(math.hypot(15.0, 32.0))

    def test_row_spacing_is_first(self):
        horizontal = Ruler(0, (0, 0), (10, 0))
        vertical = Ruler(0, (0, 0), (0, 10))
        assert horizontal.length_mm((2.0, 0.5)) == pytest.approx(5.0)
        assert vertical.length_mm((2.0, 0.5)) == pytest.approx(20.0)

    def test_bad_spacing(self):
        with pytest.raises(ValueError, match="pixel spacing"):
            Ruler(0, (0, 0), (1, 1)).length_mm((0.0, 1.0))

    def test_bad_point(self):
        with pytest.raises(ValueError, match=r"ruler\.p1"):
            Ruler(0, (0, 0), (1, "x"))  # type: ignore[arg-type]


class TestRoiStats:
    @pytest.fixture
    def image(self):
        img = np.full((64, 64), -1000.0, dtype=np.float32)
        # A known patch: rows 10..19, cols 20..29 = 60 HU, one pixel 80, one pixel 30.
        img[10:20, 20:30] = 60.0
        img[12, 22] = 80.0
        img[15, 25] = 30.0
        return img

    def test_polygon_exact_patch(self, image):
        # Pixel centres 20..29 x 10..19 lie inside this square; 19 and 30 do not.
        roi = PolygonROI(0, ((19.5, 9.5), (29.5, 9.5), (29.5, 19.5), (19.5, 19.5)))
        st = roi.stats(image, (0.7, 0.4))
        vals = np.full(100, 60.0)
        vals[0], vals[1] = 80.0, 30.0
        assert st.n_pixels == 100
        assert st.mean == pytest.approx(vals.mean())  # 59.9
        assert st.sd == pytest.approx(vals.std())  # population SD
        assert (st.min, st.max) == (30.0, 80.0)
        assert st.area_mm2 == pytest.approx(100 * 0.7 * 0.4)
        assert roi.area_mm2((0.7, 0.4)) == pytest.approx(100 * 0.7 * 0.4)

    def test_polygon_triangle_centres(self):
        img = np.arange(25, dtype=np.float32).reshape(5, 5)
        # Lower-left triangle below the diagonal: centres with x < y (on the diagonal excluded
        # or included by the scan-line rule; none of them here: offset by 0.01).
        roi = PolygonROI(0, ((-0.5, -0.49), (-0.5, 4.5), (4.49, 4.5)))
        mask = roi.mask(img.shape)
        yy, xx = np.mgrid[0:5, 0:5]
        np.testing.assert_array_equal(mask, xx < yy)

    def test_ellipse_circle_of_known_pixels(self, image):
        roi = EllipseROI(0, (27.0, 17.0), (2.0, 2.0))
        st = roi.stats(image, (1.0, 1.0))
        # Centres within distance 2 of (27, 17): 13 pixels, all in the 60 HU patch.
        assert st.n_pixels == 13
        assert (st.mean, st.sd, st.min, st.max) == (60.0, 0.0, 60.0, 60.0)
        assert st.area_mm2 == pytest.approx(13.0)

    def test_ellipse_rotated(self):
        # A thin ellipse along +x, turned 90 deg: now along y.
        roi = EllipseROI(0, (5.0, 5.0), (3.0, 0.5), angle_deg=90.0)
        mask = roi.mask((11, 11))
        assert set(zip(*np.nonzero(mask), strict=True)) == {(r, 5) for r in range(2, 9)}

    def test_ellipse_area_converges(self):
        roi = EllipseROI(0, (100.0, 100.0), (60.0, 30.0))
        st = roi.stats(np.zeros((200, 200), np.float32), (0.5, 0.5))
        assert st.area_mm2 == pytest.approx(roi.area_mm2((0.5, 0.5)), rel=0.01)

    def test_empty_roi(self):
        st = EllipseROI(0, (-50.0, -50.0), (2.0, 2.0)).stats(np.zeros((8, 8)), (1.0, 1.0))
        assert st.n_pixels == 0 and math.isnan(st.mean)
        assert st.to_json()["mean"] is None  # strict JSON


def ellipsoid_phantom(a, b, c, spacing_px=(0.5, 0.5), slice_mm=5.0, n=41, size=160):
    """Voxelised ellipsoid of semi-axes a (x), b (y), c (z) mm, centred; HU 70 in air."""
    rs, cs = spacing_px
    z = (np.arange(n) - (n - 1) / 2) * slice_mm
    y = (np.arange(size) - (size - 1) / 2) * rs
    x = (np.arange(size) - (size - 1) / 2) * cs
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    inside = (xx / a) ** 2 + (yy / b) ** 2 + (zz / c) ** 2 <= 1.0
    return np.where(inside, 70.0, 0.0).astype(np.float32), z


class TestAbcOver2:
    def test_formula(self):
        assert abc_over_2(40.0, 30.0, 50.0) == pytest.approx(40 * 30 * 50 / 2 / 1000)  # 30 mL
        with pytest.raises(ValueError, match="C"):
            abc_over_2(1.0, 1.0, -1.0)

    def test_slab_length(self):
        assert slab_length_mm([0, 5, 10, 15, 20], 1, 3) == pytest.approx(15.0)  # 3 x 5 mm
        # Uneven: 4 mm then 7 mm slices; slices 1..2 stand for 2+2 + 2+3.5 mm... by midpoints
        pos = [0.0, 4.0, 8.0, 15.0, 22.0]
        assert slab_length_mm(pos, 1, 3) == pytest.approx((15 + 22) / 2 - (0 + 4) / 2)
        assert slab_length_mm(pos, 0, 0) == pytest.approx(4.0)  # the open side mirrors
        with pytest.raises(ValueError, match="within"):
            slab_length_mm(pos, 3, 9)

    def test_ellipsoid_phantom(self):
        a, b, c = 25.0, 15.0, 32.0  # semi-axes, mm (poles between slices)
        vol, z = ellipsoid_phantom(a, b, c)
        spacing = (0.5, 0.5)
        blood = vol > 35
        areas = blood.sum(axis=(1, 2))
        k = int(np.argmax(areas))
        rows, cols = np.nonzero(blood[k])
        r_mid = int(np.median(rows))
        c_mid = int(np.median(cols))
        # Calipers from edge to edge of the blood (pixel centres +/- half a pixel).
        xs = cols[rows == r_mid]
        ys = rows[cols == c_mid]
        ruler_a = Ruler(k, (xs.min() - 0.5, r_mid), (xs.max() + 0.5, r_mid))
        ruler_b = Ruler(k, (c_mid, ys.min() - 0.5), (c_mid, ys.max() + 0.5))
        with_blood = np.nonzero(areas)[0]
        hv = HematomaVolume(ruler_a, ruler_b, int(with_blood[0]), int(with_blood[-1]))
        big_a, big_b, big_c = hv.diameters_mm(spacing, z)
        assert hv.volume_ml(spacing, z) == pytest.approx(big_a * big_b * big_c / 2 / 1000)
        assert hv.perpendicularity_deg(spacing) == pytest.approx(90.0)
        truth_ml = 4 / 3 * math.pi * a * b * c / 1000  # 50.3 mL
        assert hv.volume_ml(spacing, z) == pytest.approx(truth_ml, rel=0.10)
        # C is the number of slices with blood x slice spacing (contiguous 5 mm slices).
        assert big_c == pytest.approx(len(with_blood) * 5.0)

    def test_c_override_and_validation(self):
        a = Ruler(3, (0, 0), (10, 0))
        b = Ruler(3, (5, -5), (5, 5))
        hv = HematomaVolume(a, b, 1, 5, c_mm=12.0)
        assert hv.volume_ml((1.0, 1.0), [0, 1, 2, 3, 4, 5]) == pytest.approx(10 * 10 * 12 / 2000)
        with pytest.raises(ValueError, match="same slice"):
            HematomaVolume(a, Ruler(4, (0, 0), (1, 1)), 1, 5)
        with pytest.raises(ValueError, match="within slices"):
            HematomaVolume(a, b, 4, 6)


class TestMeasurements:
    def items(self):
        a = Ruler(3, (0.5, 1.0), (10.0, 1.0))
        b = Ruler(3, (5.0, -5.0), (5.0, 5.0))
        return [
            a,
            EllipseROI(2, (4.0, 5.0), (3.0, 2.0), angle_deg=15.0, plane="coronal"),
            PolygonROI(1, ((0, 0), (4, 0), (4, 4))),
            HematomaVolume(a, b, 1, 5),
        ]

    def test_round_trip(self):
        m = Measurements(self.items(), series_instance_uid="1.2.3", study_instance_uid="1.2")
        text = json.dumps(m.to_json(), allow_nan=False)
        back = Measurements.from_json(text)
        assert back == m
        assert list(back) == self.items()

    def test_add_remove(self):
        m = Measurements()
        items = self.items()
        for it in items:
            m.add(it)
        assert len(m) == 4
        m.remove(items[1])
        assert items[1] not in list(m)
        assert m.pop(0) == items[0]
        assert [x.index for x in m.on_slice(3)] == [3]  # the ABC/2 on slice 3
        with pytest.raises(ValueError, match="no such"):
            m.remove(items[1])
        with pytest.raises(ValueError, match="not a measurement"):
            m.add("ruler")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("mutate", "message"),
        [
            (lambda d: d.update(format="other"), r"measurements\.format"),
            (lambda d: d.update(version=99), r"measurements\.version: 99 is newer"),
            (lambda d: d.update(items={}), r"measurements\.items: expected a list"),
            (lambda d: d["items"][0].update(kind="arrow"), r"items\[0\]\.kind"),
            (lambda d: d["items"][0].update(p0=[1]), r"items\[0\]\.p0: expected a point"),
            (lambda d: d["items"][0].pop("index"), r"items\[0\]: missing field 'index'"),
            (lambda d: d["items"][1].update(radii=[-1, 2]), r"items\[1\]\.radii: must be >= 0"),
            (lambda d: d["items"][1].update(plane="oblique"), r"items\[1\]\.plane"),
            (lambda d: d["items"][2].update(points=[[0, 0]]), r"items\[2\]\.points: needs at"),
            (lambda d: d["items"][2]["points"][1].__setitem__(0, None), r"points\[1\]\[0\]"),
            (lambda d: d["items"][3]["b"].update(index=4), r"items\[3\].*same slice"),
            (lambda d: d["items"][3].update(first_index=-1), r"items\[3\]\.first_index"),
        ],
    )
    def test_bad_json_names_the_fault(self, mutate, message):
        d = Measurements(self.items()).to_json()
        d = json.loads(json.dumps(d))
        mutate(d)
        with pytest.raises(ValueError, match=message):
            Measurements.from_json(d)

    def test_not_json(self):
        with pytest.raises(ValueError, match="not JSON"):
            Measurements.from_json("{oops")
