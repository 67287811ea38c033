"""Hemorrhages (training.lesions): one per subtype, where it belongs and no further."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ichviewer.core.labels import LABELS, SUBTYPES
from tests.training.phantoms import painted, skull_centre
from training.lesions import KINDS
from training.synthetic import SyntheticStudy


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


class TestKinds:
    def test_every_subtype_has_one_entry(self):
        assert sorted(KINDS) == sorted(SUBTYPES)


class TestSampleLesions:
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
            # Partial volume along z at the inner table (training.slicing.zmix) carries a
            # share of a bleed on the table across it, a few HU, up to the slab's reach.
            changed &= np.abs(s.hu.astype(np.int32) - twin.hu) > 20
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
        cy, cx = skull_centre(twin.hu[i])
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
            cy, cx = skull_centre(twin.hu[i])
            ys, xs = np.nonzero(s.masks[i])
            assert abs(xs.mean() - cx) * s.pixel_spacing < 40
