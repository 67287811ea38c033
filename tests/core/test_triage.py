"""Flagged-slice rules of the second-read triage list (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import (
    FlaggedSlice,
    flagged_labels,
    flagged_mask,
    flagged_slices,
    step_flagged,
    study_summary,
)

NAN = float("nan")
T = [0.5, 0.5, 0.5, 0.5, 0.5, 0.4]  # "any" fires lower, as a real operating point might


def probs() -> np.ndarray:
    """5 slices: 0 clean, 1 epidural + any, 2 unscored, 3 any only (at the threshold), 4 three labels."""
    return np.array(
        [
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.2],
            [0.7, 0.1, 0.1, 0.1, 0.1, 0.9],
            [NAN] * 6,
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.4],
            [0.1, 0.95, 0.6, 0.1, 0.1, 0.9],
        ],
        dtype=np.float32,
    )


class TestFlaggedMask:
    def test_threshold_is_inclusive_and_unscored_never_fires(self) -> None:
        m = flagged_mask(probs(), T)
        assert m.shape == (5, 6)
        assert m[3, LABELS.index("any")]  # 0.4 >= 0.4
        assert not m[2].any()
        assert not m[0].any()

    def test_a_subtype_fires_only_on_a_slice_called_a_bleed(self) -> None:
        # subarachnoid 0.8 over its 0.5, but P(any) 0.3 under 0.4: the slice is not a bleed,
        # so it is not listed, not as "SAH" nor as anything else
        p = np.array([[0.1, 0.1, 0.1, 0.8, 0.1, 0.3], [0.1, 0.1, 0.1, 0.8, 0.1, 0.4]])
        m = flagged_mask(p, T)
        assert not m[0].any()
        assert flagged_labels(p[1], T) == ["subarachnoid", "any"]
        assert [f.index for f in flagged_slices(p, T)] == [1]
        assert study_summary(p, T).flagged_by_label["subarachnoid"] == 1

    def test_wrong_shapes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="probabilities"):
            flagged_mask(np.zeros((3, 5)), T)
        with pytest.raises(ValueError, match="thresholds"):
            flagged_mask(probs(), T[:5])


class TestFlaggedLabels:
    def test_one_slice_fires_what_its_row_of_the_mask_fires(self) -> None:
        p = probs()
        for row, fired in zip(p, flagged_mask(p, T), strict=True):
            assert flagged_labels(row, T) == [lb for lb, f in zip(LABELS, fired, strict=True) if f]
        assert flagged_labels(p[4], T) == ["intraparenchymal", "intraventricular", "any"]
        assert flagged_labels(p[3], T) == ["any"]  # inclusive
        assert flagged_labels(p[2], T) == []  # unscored

    def test_wrong_length_is_refused(self) -> None:
        with pytest.raises(ValueError, match="must be"):
            flagged_labels([0.5] * 5, T)


class TestFlaggedSlices:
    def test_sorted_by_probability_with_labels_that_fired(self) -> None:
        out = flagged_slices(probs(), T)
        assert [f.index for f in out] == [4, 1, 3]
        assert out[0] == FlaggedSlice(
            4, ("intraparenchymal", "intraventricular", "any"), pytest.approx(0.95)
        )
        assert out[1].labels == ("epidural", "any")
        assert out[1].score == pytest.approx(0.9)
        assert out[2].labels == ("any",)

    def test_ties_prefer_more_labels_then_lower_index(self) -> None:
        p = np.full((4, 6), 0.0, dtype=np.float32)
        p[:, 5] = 1.0
        p[2, 0] = 0.9
        assert [f.index for f in flagged_slices(p, T)] == [2, 0, 1, 3]

    def test_position_order(self) -> None:
        assert [f.index for f in flagged_slices(probs(), T, order="position")] == [1, 3, 4]

    def test_nothing_scored_nothing_flagged(self) -> None:
        assert flagged_slices(np.full((3, 6), np.nan), T) == []

    def test_unknown_order(self) -> None:
        with pytest.raises(ValueError, match="order"):
            flagged_slices(probs(), T, order="alphabetical")


class TestStepFlagged:
    def test_follows_the_list_and_wraps(self) -> None:
        flagged = flagged_slices(probs(), T)  # 4, 1, 3
        assert step_flagged(flagged, 4, +1) == 1
        assert step_flagged(flagged, 1, +1) == 3
        assert step_flagged(flagged, 3, +1) == 4
        assert step_flagged(flagged, 4, -1) == 3
        assert step_flagged(flagged, 1, -1) == 4

    def test_from_an_unflagged_slice(self) -> None:
        flagged = flagged_slices(probs(), T)
        assert step_flagged(flagged, 0, +1) == 4
        assert step_flagged(flagged, 0, -1) == 3

    def test_empty(self) -> None:
        assert step_flagged([], 0, 1) is None


class TestStudySummary:
    def test_maxima_and_counts(self) -> None:
        s = study_summary(probs(), T)
        assert (s.n_slices, s.n_scored, s.n_flagged) == (5, 4, 3)
        assert s.max_probability["intraparenchymal"] == pytest.approx(0.95)
        assert s.max_index["intraparenchymal"] == 4
        assert s.max_index["epidural"] == 1
        assert s.flagged_by_label["any"] == 3
        assert s.flagged_by_label["subdural"] == 0
        line = s.line()
        assert "Flagged 3/5" in line and "scored 4/5" in line and "intraparenchymal 0.95" in line

    def test_nothing_scored(self) -> None:
        s = study_summary(np.full((7, 6), np.nan), T)
        assert s.n_scored == 0 and s.max_probability["any"] is None
        assert s.line() == "Not scored yet (7 slices)"


class TestStudyDecision:
    def _p(self, any_values):
        p = np.full((len(any_values), 6), 0.01, np.float32)
        p[:, -1] = any_values
        return p

    def test_study_probability_is_the_largest_scored_p_any(self):
        from ichviewer.core.triage import study_probability

        assert study_probability(self._p([0.1, np.nan, 0.7, 0.3])) == pytest.approx(0.7)
        assert study_probability(self._p([np.nan, np.nan])) is None

    def test_flagged_at_the_study_threshold_only_in_scope(self):
        from ichviewer.core.triage import study_decision

        p = self._p([0.2, 0.85])
        assert study_decision(p, 0.8).flagged
        assert not study_decision(p, 0.9).flagged
        assert not study_decision(p, 0.8, in_scope=False).flagged
        assert not study_decision(self._p([np.nan]), 0.0).flagged
