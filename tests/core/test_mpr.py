"""Reformats in mm: uneven spacing, thickness, gantry tilt, slabs, cross-reference lines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ichviewer.core.mpr import (
    VolumeGeometry,
    cross_reference,
    edge_labels,
    extent_mm,
    locate,
    n_positions,
    reformat,
    reformat_grid,
    sample,
    view_plane,
)
from ichviewer.io.model import SeriesInfo, SliceRef
from tests.conftest import realct

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def synthetic(fn, positions, iop=AXIAL, spacing=(0.5, 0.7), shape=(80, 90), thick=None):
    """A stack whose voxel values are fn(patient points (..., 3)), and its geometry."""
    geom = VolumeGeometry(
        positions=positions, orientation=iop, pixel_spacing=spacing, shape=shape, thicknesses=thick
    )
    rows, cols = shape
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float64)
    vol = np.empty((len(geom.positions), rows, cols), dtype=np.float32)
    for k, ipp in enumerate(geom.positions):
        pts = (
            ipp
            + cc[..., None] * spacing[1] * geom.row_dir
            + rr[..., None] * spacing[0] * geom.col_dir
        )
        vol[k] = fn(pts)
    return vol, geom


def run_lengths(mask_1d: np.ndarray) -> int:
    return int(np.count_nonzero(mask_1d))


UNEVEN_Z = [0, 2, 4, 6, 8, 10, 13, 16, 19, 22, 26, 30, 34]


def box(points):
    """100 HU inside x in [7, 35) mm, y in [10, 30) mm, 6 <= z <= 22 mm; else 0."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    inside = (x >= 7 - 0.35) & (x < 35 - 0.35) & (y >= 10) & (y < 30) & (z >= 6) & (z <= 22)
    return np.where(inside, 100.0, 0.0)


class TestGeometry:
    def test_plain_axial(self):
        g = VolumeGeometry([[0, 0, z] for z in (0, 5, 10)], AXIAL, (0.5, 0.5), (4, 4))
        assert g.tilt_deg == 0 and g.shear_deg == 0
        assert g.thicknesses == (5.0, 5.0, 5.0)  # median gap when not given
        assert g.stack_extent_mm() == (10.0, 15.0)

    def test_unsorted_refused(self):
        with pytest.raises(ValueError, match="sorted along the slice normal"):
            VolumeGeometry([[0, 0, 5], [0, 0, 0]], AXIAL, (1, 1), (4, 4))

    def test_bad_spacing(self):
        with pytest.raises(ValueError, match="PixelSpacing"):
            VolumeGeometry([[0, 0, 0]], AXIAL, (0, 1), (4, 4))


class TestReformatUnevenSpacing:
    def test_box_size_in_mm(self):
        vol, g = synthetic(box, [[0, 0, z] for z in UNEVEN_Z], thick=[2.0] * len(UNEVEN_Z))
        s = 0.5
        j = locate(g, [20.0, 20.0, 14.0])["coronal"]
        r = reformat(vol, g, "coronal", j)
        assert r.pixel_spacing == (s, s)
        inside = r.image > 50
        # Height: slices at 6..22 mm are inside, 4 and 26 outside; linear interpolation by
        # position puts the edges half-way: 5 and 24 mm, so 19 mm (index-based: 4 slices).
        rows, cols = np.nonzero(inside)
        mid_row, mid_col = int(np.median(rows)), int(np.median(cols))
        assert run_lengths(inside[:, mid_col]) * s == pytest.approx(19.0, abs=s)
        # Width: 28 mm of 0.7 mm columns, resampled to 0.5 mm pixels.
        assert run_lengths(inside[mid_row]) * s == pytest.approx(28.0, abs=s)
        # The whole image: 34 mm of centres + 2 x 1 mm half-thickness; 90 x 0.7 mm wide.
        assert extent_mm(g, "coronal") == pytest.approx((36.0, 63.0))
        assert r.image.shape == (72, 126)

    def test_sagittal_box(self):
        vol, g = synthetic(box, [[0, 0, z] for z in UNEVEN_Z])
        i = locate(g, [20.0, 20.0, 14.0])["sagittal"]
        r = reformat(vol, g, "sagittal", i)
        inside = r.image > 50
        assert run_lengths(inside.any(axis=1)) * 0.5 == pytest.approx(19.0, abs=0.5)
        assert run_lengths(inside.any(axis=0)) * 0.5 == pytest.approx(20.0, abs=0.5)
        assert r.orientation_labels() == {"left": "A", "right": "P", "top": "H", "bottom": "F"}

    def test_sphere_is_round(self):
        def sphere(p):
            return np.where(np.linalg.norm(p - [22.0, 20.0, 15.0], axis=-1) <= 10, 100.0, 0.0)

        zs = [0, 1, 2, 3, 5, 7, 9, 11, 14, 17, 20, 23, 26, 28, 30]
        vol, g = synthetic(sphere, [[0, 0, z] for z in zs])
        r = reformat(vol, g, "coronal", locate(g, [22.0, 20.0, 15.0])["coronal"])
        inside = r.image > 50
        height = run_lengths(inside.any(axis=1)) * 0.5
        width = run_lengths(inside.any(axis=0)) * 0.5
        assert width == pytest.approx(20.0, abs=1.0)
        assert height == pytest.approx(20.0, abs=2.0)  # 3 mm gaps near the poles

    def test_axial_is_the_slice(self):
        vol, g = synthetic(box, [[0, 0, z] for z in UNEVEN_Z])
        r = reformat(vol, g, "axial", 7)
        np.testing.assert_array_equal(r.image, vol[7])
        assert r.orientation_labels() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def tilted_geometry_kwargs(tilt_deg=20.0, n=30, gap=3.0):
    t = math.radians(tilt_deg)
    iop = (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))
    dz = gap / math.cos(t)  # the table advances along z; the slices are `gap` apart
    positions = [[-20.0, -20.0, k * dz] for k in range(n)]
    return positions, iop


class TestTiltCorrection:
    def cylinder(self, axis, centre, radius=5.0):
        axis = np.asarray(axis, float) / np.linalg.norm(axis)

        def fn(p):
            d = p - centre
            radial = d - (d @ axis)[..., None] * axis
            return np.where(np.linalg.norm(radial, axis=-1) <= radius, 100.0, 0.0)

        return fn

    @staticmethod
    def centroids(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inside = img > 50
        counts = inside.sum(axis=1)
        # Rows that cross the whole cylinder (not the ends, cut by the stack's slab faces).
        rows = np.nonzero(counts >= 0.9 * counts.max())[0]
        cols = np.arange(img.shape[1])
        c = np.array([float((inside[r] * cols).sum() / inside[r].sum()) for r in rows])
        return rows, c

    def centroid_drift(self, img: np.ndarray) -> float:
        return float(np.ptp(self.centroids(img)[1]))

    def slope(self, img: np.ndarray) -> float:
        """Columns per row of a line fitted through the centroids (0: vertical)."""
        rows, c = self.centroids(img)
        return float(np.polyfit(rows, c, 1)[0])

    def test_shear_is_measured(self):
        positions, iop = tilted_geometry_kwargs()
        g = VolumeGeometry(positions, iop, (0.5, 0.5), (100, 100))
        assert g.tilt_deg == pytest.approx(20.0)
        assert g.shear_deg == pytest.approx(20.0)
        assert np.diff(g.offsets) == pytest.approx(3.0)

    def test_cylinder_along_normal_stays_vertical(self):
        positions, iop = tilted_geometry_kwargs()
        g0 = VolumeGeometry(positions, iop, (0.5, 0.5), (100, 100))
        centre = np.array([5.0, 5.0, 40.0])
        vol, g = synthetic(self.cylinder(g0.normal, centre), positions, iop, (0.5, 0.5), (100, 100))
        r = reformat(vol, g, "sagittal", locate(g, centre)["sagittal"])
        assert self.centroid_drift(r.image) <= 1.0  # straight up and down
        assert abs(self.slope(r.image)) < 0.005
        # Stacking rows by index instead (no tilt correction) leans: the slices' origins
        # slide 3 tan(20 deg) = 1.1 mm along the columns per slice.
        naive = vol[:, :, int(round((centre[0] + 20.0) / 0.5))]
        assert self.centroid_drift(naive) > 30
        # Height: 29 gaps of 3 mm + half of a 3 mm slice at each end, at 0.5 mm pixels.
        assert r.image.shape[0] * 0.5 == pytest.approx(29 * 3.0 + 3.0, abs=0.5)
        assert extent_mm(g, "sagittal")[0] == pytest.approx(90.0)

    def test_cylinder_along_z_in_patient_frame(self):
        positions, iop = tilted_geometry_kwargs()
        centre = np.array([5.0, 5.0, 40.0])
        vol, g = synthetic(self.cylinder([0, 0, 1], centre), positions, iop, (0.5, 0.5), (100, 100))
        r = reformat(vol, g, "sagittal", locate(g, centre, "patient")["sagittal"], frame="patient")
        assert r.orientation_labels() == {"left": "A", "right": "P", "top": "H", "bottom": "F"}
        img = np.where(r.valid, r.image, 0)
        assert abs(self.slope(img)) < 0.005
        # Between slices the interpolation runs along the slice normal, 20 deg off the
        # cylinder's axis: its edges wobble by up to ~1 mm (2 px), not more.
        assert self.centroid_drift(img) <= 2.0

    def test_sampling_a_slice_plane_gives_the_slice(self):
        positions, iop = tilted_geometry_kwargs(n=6)
        vol, g = synthetic(
            lambda p: p[..., 1] * 3 + p[..., 2], positions, iop, (0.5, 0.7), (20, 30)
        )
        vals, ok = sample(vol, g, view_plane(g, "axial", 3).grid())
        assert ok.all()
        np.testing.assert_allclose(vals, vol[3], atol=1e-3)

    def test_cross_reference_moves_with_the_shear(self):
        positions, iop = tilted_geometry_kwargs(n=10)
        g = VolumeGeometry(positions, iop, (0.5, 0.5), (100, 100))
        grid = reformat_grid(g)
        j = grid.counts[1] // 2
        rows = []
        for k in (0, 9):
            (x0, y0), (x1, y1) = cross_reference(g, "coronal", j, "axial", k)
            assert y0 == pytest.approx(y1)  # a horizontal line: same row across
            assert {x0, x1} == {-0.5, 99.5}
            # Every point of it lies on the coronal plane.
            p = view_plane(g, "axial", k).to_patient(x0, y0)
            assert float(p @ grid.axes[1]) == pytest.approx(grid.coord(1, j))
            rows.append(y0)
        # 9 slices x 3 mm x tan(20 deg) / 0.5 mm: the line moves ~19.7 rows.
        assert abs(rows[1] - rows[0]) == pytest.approx(9 * 3 * math.tan(math.radians(20)) / 0.5)


class TestSlab:
    def dot_volume(self):
        vol = np.zeros((9, 20, 20), dtype=np.float32)
        vol[5, 10, 12] = 900.0
        g = VolumeGeometry([[0, 0, 2.0 * k] for k in range(9)], AXIAL, (1.0, 1.0), (20, 20))
        return vol, g

    def test_axial_mip_and_mean(self):
        vol, g = self.dot_volume()
        assert reformat(vol, g, "axial", 4).image.max() == 0
        mip = reformat(vol, g, "axial", 4, slab_mm=4.0, mode="mip")
        assert mip.image[10, 12] == pytest.approx(900.0)
        mean = reformat(vol, g, "axial", 4, slab_mm=4.0, mode="mean")
        # Samples every 1 mm over +/- 2 mm: at +1 (half-way) 450, at +2 (on slice 5) 900.
        assert mean.image[10, 12] == pytest.approx((450 + 900) / 5)

    def test_coronal_mip(self):
        vol, g = self.dot_volume()
        assert reformat(vol, g, "coronal", 7).image.max() == 0
        mip = reformat(vol, g, "coronal", 7, slab_mm=6.0).image
        # The slab's planes are 1 mm (one coronal index) apart: +/- 3 indices.
        singles = [reformat(vol, g, "coronal", j).image for j in range(4, 11)]
        np.testing.assert_array_equal(mip, np.max(singles, axis=0))
        assert mip.max() > 600  # the dot (z between grid rows: interpolated)
        with pytest.raises(ValueError, match="slab mode"):
            reformat(vol, g, "coronal", 7, slab_mm=6.0, mode="minip")  # type: ignore[arg-type]

    def test_index_checked(self):
        vol, g = self.dot_volume()
        with pytest.raises(ValueError, match="coronal index 20 outside"):
            reformat(vol, g, "coronal", n_positions(g, "coronal"))


class TestCrossReference:
    def test_plain_axial(self):
        g = VolumeGeometry([[0, 0, 2.0 * k] for k in range(9)], AXIAL, (1.0, 1.0), (20, 30))
        assert cross_reference(g, "coronal", 7, "axial", 3) == ((-0.5, 7.0), (29.5, 7.0))
        assert cross_reference(g, "sagittal", 4, "axial", 3) == ((4.0, -0.5), (4.0, 19.5))
        # Axial slice 3 (z = 6 mm) on a coronal: a horizontal line, head at the top.
        (x0, y0), (x1, y1) = cross_reference(g, "axial", 3, "coronal", 7)
        top_z = 16.0 + 1.0  # last slice at 16 mm plus half its 2 mm thickness
        first_row_z = top_z - 0.5  # pixel centres half a pixel in
        assert y0 == y1 == pytest.approx(first_row_z - 6.0)
        assert cross_reference(g, "axial", 3, "axial", 5) is None  # parallel

    def test_locate_round_trip(self):
        g = VolumeGeometry([[0, 0, 2.0 * k] for k in range(9)], AXIAL, (1.0, 1.0), (20, 30))
        p = view_plane(g, "axial", 4).to_patient(12, 7)
        assert locate(g, p) == {"axial": 4, "coronal": 7, "sagittal": 12}


class TestOrientationLetters:
    def test_edges(self):
        assert edge_labels([1, 0, 0], [0, 0, -1]) == {
            "left": "R",
            "right": "L",
            "top": "H",
            "bottom": "F",
        }


def ge_head():
    from ichviewer.io import SeriesReader, scan
    from ichviewer.io.geometry import volume_geometry

    series = scan(realct("ge_head")).best_series()
    assert series is not None
    return series, SeriesReader(series).load_all(), volume_geometry(series)


@pytest.mark.realct
class TestGeHead:
    def test_coronal_height_is_the_tilt_corrected_z_extent(self):
        series, vol, g = ge_head()
        assert g.tilt_deg == pytest.approx(18.5, abs=0.01)
        assert g.shear_deg == pytest.approx(18.5, abs=0.01)
        assert not g.approximate
        z = g.positions[:, 2]
        z_extent = float(z[-1] - z[0])  # 151.94 mm of table travel
        span, coverage = g.stack_extent_mm()
        assert span == pytest.approx(z_extent * math.cos(math.radians(18.5)), abs=0.01)  # 144.09
        assert coverage == pytest.approx(span + 4.0 / 2 + 7.0 / 2)  # 149.59
        cor = reformat(vol, g, "coronal", n_positions(g, "coronal") // 2)
        height_mm = cor.image.shape[0] * cor.pixel_spacing[0]
        assert coverage <= height_mm < coverage + cor.pixel_spacing[0]
        assert extent_mm(g, "coronal") == pytest.approx((coverage, 512 * 0.4882812))
        assert cor.orientation_labels() == {
            "left": "R",
            "right": "L",
            "top": "HP",
            "bottom": "FA",
        }

    def test_head_inside_and_slices_exact(self):
        _, vol, g = ge_head()
        sag = reformat(vol, g, "sagittal", n_positions(g, "sagittal") // 2)
        # Brain tissue (20..60 HU) fills a good part of the mid-sagittal.
        brain = (sag.image > 20) & (sag.image < 60)
        assert brain.mean() > 0.2
        vals, ok = sample(vol, g, view_plane(g, "axial", 10).grid())
        assert ok.all()
        np.testing.assert_allclose(vals, vol[10], atol=0.01)

    def test_volume_geometry_fallbacks(self):
        series, _, _ = ge_head()
        from ichviewer.io.geometry import volume_geometry

        bare = SeriesInfo(
            **{
                **{f: getattr(series, f) for f in series.__dataclass_fields__},
                "orientation": None,
                "pixel_spacing": None,
                "sorted_by": "instance_number",
                "slices": [
                    SliceRef(s.source, s.frame, s.sop_instance_uid, s.rows, s.columns)
                    for s in series.slices
                ],
            }
        )
        g = volume_geometry(bare)
        assert len(g.approximate) == 3
        assert g.pixel_spacing == (1.0, 1.0)
        assert g.tilt_deg == 0.0
