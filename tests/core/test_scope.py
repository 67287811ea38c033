"""The scope check: a non-contrast head CT is in scope; a chest, an MR, a series whose
BodyPartExamined names another region are not; contrast is in scope with a warning."""

from __future__ import annotations

import numpy as np
import pytest

from ichviewer.core.scope import MAX_HEAD_WIDTH_MM, assess_scope, body_width_mm


def ellipse_slice(width_mm: float, height_mm: float, ps: float = 0.5, n: int = 800) -> np.ndarray:
    """Soft tissue in an ellipse, air around, a 1 mm 'head holder' line under it."""
    c = (np.arange(n) - n / 2) * ps
    x, y = np.meshgrid(c, c)
    hu = np.full((n, n), -1000.0, np.float32)
    hu[(x / (width_mm / 2)) ** 2 + (y / (height_mm / 2)) ** 2 < 1] = 40.0
    hu[np.abs(y - (height_mm / 2 + 10)) < 0.5] = 300.0  # thin and wide: must not count
    return hu


class TestBodyWidth:
    def test_measures_the_body_not_the_head_holder(self):
        w = body_width_mm(ellipse_slice(180, 200), 0.5)
        assert w == pytest.approx(200, abs=6)

    def test_no_body(self):
        assert body_width_mm(np.full((64, 64), -1000.0), 0.5) is None


class TestAssessScope:
    def test_head_sized_series_is_in_scope(self):
        s = assess_scope(
            body_part="HEAD", slices=[ellipse_slice(170, 200)] * 3, pixel_spacing_mm=0.5
        )
        assert s.in_scope and s.reason == ""

    def test_a_body_wider_than_a_head_is_out_whatever_the_headers_say(self):
        s = assess_scope(
            body_part="HEAD",
            descriptions=["routine"],
            slices=[ellipse_slice(340, 220)],
            pixel_spacing_mm=0.5,
        )
        assert not s.in_scope
        assert "34 cm wide" in s.reason

    def test_just_under_the_limit_is_a_head(self):
        w = MAX_HEAD_WIDTH_MM - 20
        s = assess_scope(slices=[ellipse_slice(w, w)], pixel_spacing_mm=0.5)
        assert s.in_scope

    def test_chest_words_decide_without_images(self):
        s = assess_scope(descriptions=["HELICAL CHEST"])
        assert not s.in_scope and "chest" in s.reason

    def test_body_part_decides_without_images(self):
        s = assess_scope(body_part="ABDOMEN", descriptions=["routine head protocol"])
        assert not s.in_scope and "BodyPartExamined is ABDOMEN" in s.reason

    def test_head_neck_wording_with_head_images_stays_in(self):
        s = assess_scope(
            descriptions=["HEAD/NECK C-SPINE"],
            slices=[ellipse_slice(170, 190)],
            pixel_spacing_mm=0.5,
        )
        assert s.in_scope

    def test_other_modalities_are_out(self):
        s = assess_scope(modality="MR", body_part="HEAD")
        assert not s.in_scope and "MR" in s.reason

    @pytest.mark.parametrize(
        ("agent", "desc"),
        [("OMNIPAQUE", ""), ("", "CT HEAD W/ CONTRAST"), ("", "CTA head"), ("", "Head C+")],
    )
    def test_contrast_is_scored_with_a_warning(self, agent, desc):
        s = assess_scope(body_part="HEAD", descriptions=[desc], contrast_agent=agent)
        assert s.in_scope and s.contrast
        assert "contrast" in s.reason and "look like blood" in s.reason

    @pytest.mark.parametrize(
        "desc",
        ["CT HEAD WITHOUT CONTRAST", "non-contrast head", "Head w/o contrast", "NONCONTRAST"],
    )
    def test_no_contrast_wording_is_not_contrast(self, desc):
        s = assess_scope(body_part="HEAD", descriptions=[desc])
        assert s.in_scope and not s.contrast and s.reason == ""

    def test_injection_rate_text_is_not_contrast(self):
        # CQ500's descriptions read like "4cc sec 150cc D3D on" on non-contrast scans.
        s = assess_scope(descriptions=["4cc sec 150cc D3D on"])
        assert s.in_scope and not s.contrast

    def test_reason_quotes_no_free_text(self):
        s = assess_scope(descriptions=["CHEST for DOE^JOHN 12345"])
        assert "DOE" not in s.reason and "12345" not in s.reason
