"""Evaluation maths against examples worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ichviewer.core.labels import LABELS
from training.metrics import (
    average_precision,
    choose_threshold,
    choose_thresholds,
    log_loss,
    operating_point,
    roc_auc,
    roc_curve,
    summarize,
    weighted_log_loss,
)


class TestRocAuc:
    def test_hand_computed_with_ties(self):
        # positives 0.35, 0.8, 0.4; negatives 0.1, 0.4, 0.4.
        # Pairs won: 0.35 -> 1 (beats 0.1); 0.8 -> 3; 0.4 -> 1 + 0.5 + 0.5 (ties count half).
        y = np.array([0, 0, 1, 1, 0, 1])
        p = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
        assert roc_auc(y, p) == pytest.approx(6 / 9)

    def test_perfect_and_inverted_and_constant(self):
        y = np.array([0, 0, 1, 1])
        assert roc_auc(y, [0.1, 0.2, 0.3, 0.4]) == 1.0
        assert roc_auc(y, [0.4, 0.3, 0.2, 0.1]) == 0.0
        assert roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5

    def test_single_class_is_undefined(self):
        assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))

    def test_area_under_roc_curve_matches(self):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 300)
        p = np.round(rng.random(300) * 0.5 + y * 0.3, 2)  # many ties
        fpr, tpr, _ = roc_curve(y, p)
        trapezoid = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        assert roc_auc(y, p) == pytest.approx(trapezoid)
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)

    def test_rejects_non_binary_labels(self):
        with pytest.raises(ValueError, match="0 or 1"):
            roc_auc([0, 2], [0.1, 0.2])


class TestLogLoss:
    def test_hand_computed(self):
        assert log_loss([1, 0], [0.8, 0.3]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)

    def test_rsna_weighted(self):
        y = np.array([[1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
        p = np.array([[0.9, 0.2, 0.1, 0.1, 0.1, 0.8], [0.5] * 6])
        row1 = -(math.log(0.9) + math.log(0.8) + 3 * math.log(0.9) + 2 * math.log(0.8)) / 7
        row2 = math.log(2)  # every label at 0.5, weights sum to 7 over 7
        assert weighted_log_loss(y, p) == pytest.approx((row1 + row2) / 2)

    def test_any_counts_twice(self):
        y = np.zeros((1, 6), int)
        wrong_any = np.array([[0.01] * 5 + [0.9]])
        wrong_epidural = np.array([[0.9] + [0.01] * 5])
        assert weighted_log_loss(y, wrong_any) > weighted_log_loss(y, wrong_epidural)

    def test_clips_certain_mistakes(self):
        assert math.isfinite(log_loss([1], [0.0]))

    def test_shape_mismatch_is_named(self):
        with pytest.raises(ValueError, match="must both be"):
            weighted_log_loss(np.zeros((2, 6)), np.zeros((2, 5)))


class TestAveragePrecision:
    def test_hand_computed(self):
        # ranked: 0.9 (pos), 0.8 (neg), 0.7 (pos): AP = 0.5*1 + 0.5*(2/3)
        assert average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)


class TestThresholds:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])

    def test_operating_point(self):
        op = operating_point(self.y, self.p, 0.5)
        assert (op.tp, op.fn, op.tn, op.fp) == (3, 1, 3, 1)
        assert op.sensitivity == 0.75 and op.specificity == 0.75

    def test_min_sensitivity_keeps_every_positive_when_asked(self):
        t = choose_threshold(self.y, self.p, min_sensitivity=1.0)
        assert t == pytest.approx(0.4)
        assert operating_point(self.y, self.p, t).sensitivity == 1.0

    def test_min_sensitivity_takes_the_highest_threshold(self):
        t = choose_threshold(self.y, self.p, min_sensitivity=0.75, max_threshold=1.0)
        assert t == pytest.approx(0.7)

    def test_confident_validation_scores_do_not_push_the_threshold_past_one_half(self):
        # Every validation positive near 1.0: the sensitivity rule alone would pick 0.999,
        # missing the positives of new studies scored 0.6-0.9.
        y = np.array([0, 0, 0, 1, 1, 1])
        p = np.array([0.01, 0.2, 0.3, 0.999, 0.9995, 0.9999])
        assert choose_threshold(y, p, min_sensitivity=0.8, max_threshold=1.0) > 0.99
        assert choose_threshold(y, p, min_sensitivity=0.8) == 0.5

    def test_faint_positives_do_not_drag_the_threshold_down(self):
        """Sensitivity counted on the conspicuous positives only: the two faint edge slices
        scored 0.05 and 0.1 no longer pull the threshold below the negatives at 0.2-0.3."""
        y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        p = np.array([0.01, 0.02, 0.2, 0.3, 0.05, 0.1, 0.6, 0.7, 0.8, 0.9])
        big = np.array([False] * 6 + [True] * 4)  # negatives count whatever this says
        assert choose_threshold(y, p, min_sensitivity=0.95) == pytest.approx(0.05)
        t = choose_threshold(y, p, min_sensitivity=0.95, counted=big)
        assert t == pytest.approx(0.5)  # 0.6, capped at one half
        assert operating_point(y, p, t).fp == 0
        # with no conspicuous positive at all, every positive counts
        none = np.zeros(10, bool)
        assert choose_threshold(y, p, min_sensitivity=0.95, counted=none) == pytest.approx(0.05)

    def test_the_false_alarm_budget_wins_over_sensitivity(self):
        """Negatives that score like the positives: 95 % sensitivity would flag half of
        them; a 0.9 specificity budget raises the threshold until at most 1 in 10 of the
        negatives is flagged, and a lax budget leaves the sensitivity rule alone."""
        y = np.r_[np.zeros(20, int), np.ones(10, int)]
        p = np.r_[np.linspace(0.01, 0.4, 20), np.linspace(0.2, 0.45, 10)]
        loose = choose_threshold(y, p, min_sensitivity=0.95)
        assert operating_point(y, p, loose).specificity <= 0.5
        t = choose_threshold(y, p, min_sensitivity=0.95, min_specificity=0.9)
        op = operating_point(y, p, t)
        assert op.specificity >= 0.9 and op.fp == 2  # the lowest threshold within budget
        assert op.sensitivity < 0.95  # what the budget costs
        assert choose_threshold(y, p, min_sensitivity=0.95, min_specificity=0.3) == loose
        # the cap still holds, and the rule applies per label
        assert choose_threshold(y, p + 0.5, min_sensitivity=0.95, min_specificity=0.9) == 0.5
        both = choose_thresholds(np.tile(y[:, None], 6), np.tile(p[:, None], 6))
        assert operating_point(y, p, both["any"]).specificity >= 0.95

    def test_youden(self):
        # J at 0.7: 0.75 + 1.0 - 1; at 0.4: 1.0 + 0.75 - 1; first maximum is the higher threshold
        assert choose_threshold(self.y, self.p) == pytest.approx(0.7)

    def test_per_label_rule_and_summary(self):
        rng = np.random.default_rng(1)
        y = (rng.random((200, 6)) < 0.3).astype(np.uint8)
        y[:, -1] = y[:, :-1].max(1)
        p = np.clip(y * 0.5 + rng.random((200, 6)) * 0.6, 0, 1)
        thr = choose_thresholds(y, p)
        assert list(thr) == list(LABELS)
        s = summarize(y, p, thr)
        assert s["labels"]["any"]["operating_point"]["sensitivity"] >= 0.95
        for name in LABELS[:-1]:
            assert s["labels"][name]["operating_point"]["sensitivity"] >= 0.80
        assert s["weighted_log_loss"] == pytest.approx(weighted_log_loss(y, p))


def test_real_ct_flag_counts_by_hand():
    from training.evaluate import flag_counts

    # Four real slices believed negative; 'any' in the last column.
    p = np.zeros((4, 6))
    p[:, -1] = [0.01, 0.03, 0.6, 0.9]
    p[:, 4] = [0.0, 0.2, 0.7, 0.1]  # subdural
    thr = dict.fromkeys(LABELS, 0.5) | {"any": 0.02}
    c = flag_counts(p, thr)
    assert c["slices"] == 4
    assert c["flagged_any"] == 3  # 0.03, 0.6, 0.9 reach the low 'any' threshold ...
    assert c["over_half_any"] == 2  # ... only two score above one half
    assert c["flagged_by_label"]["subdural"] == 1
    assert c["median_probability"]["any"] == pytest.approx(0.315)
    assert c["max_probability"]["any"] == pytest.approx(0.9)
    empty = flag_counts(np.zeros((0, 6)), thr)
    assert empty["flagged_any"] == empty["over_half_any"] == 0
    assert empty["median_probability"]["any"] is None
