"""The series-context stage: features along the series in mm, and applying fitted weights."""

from __future__ import annotations

import numpy as np
import pytest

from ichviewer.core.labels import LABELS
from ichviewer.core.slice_context import (
    SliceContext,
    context_features,
    identity_context,
    logit,
    n_features,
)

D = (5.0, 10.0)
ANY = LABELS.index("any")


def _probs(any_values) -> np.ndarray:
    p = np.full((len(any_values), 6), 0.01, dtype=np.float32)
    p[:, ANY] = any_values
    return p


def _neighbour_weights(own: float, max5: float, bias: float = 0.0) -> SliceContext:
    """A stage for 'any' only: own * z + max5 * max(z(-5 mm), z(+5 mm)) + bias."""
    w = identity_context(D).weight.copy()
    w[ANY, ANY] = own
    w[ANY, 2 * 6 + ANY] = max5  # block order: own, mean(5), max(5), mean(10), max(10)
    b = np.zeros(6)
    b[ANY] = bias
    return SliceContext(D, w, b)


class TestContextFeatures:
    def test_neighbours_are_found_by_distance_not_by_index(self):
        # a thin series (1 mm): the slice 5 mm away is 5 slices away
        pos = np.arange(11, dtype=float)
        any_p = np.full(11, 0.01)
        any_p[5] = 0.99
        x = context_features(_probs(any_p), pos, D)
        max5 = x[:, 2 * 6 + ANY]
        assert max5[0] == pytest.approx(logit(0.99))  # 0 mm + 5 mm = slice 5
        assert max5[10] == pytest.approx(logit(0.99))
        assert max5[3] == pytest.approx(logit(0.01))  # 3 +/- 5 mm: slices -2 (held) and 8

    def test_between_slices_the_logit_is_interpolated(self):
        pos = np.array([0.0, 10.0])  # 10 mm apart: +5 mm falls half way
        x = context_features(_probs([0.1, 0.9]), pos, D)
        assert x[0, 1 * 6 + ANY] == pytest.approx(logit(0.1) / 2, abs=1e-6)  # mean(held, mid)
        assert x[0, 2 * 6 + ANY] == pytest.approx(
            0.0, abs=1e-6
        )  # halfway between logit 0.1 and 0.9

    def test_blind_to_which_way_the_series_runs(self):
        rng = np.random.default_rng(0)
        p = rng.uniform(0.01, 0.99, (9, 6)).astype(np.float32)
        pos = 5.0 * np.arange(9)
        a = context_features(p, pos, D)
        b = context_features(p[::-1], -pos[::-1], D)[::-1]
        np.testing.assert_allclose(a, b, atol=1e-12)

    def test_order_of_the_rows_does_not_matter(self):
        rng = np.random.default_rng(1)
        p = rng.uniform(0.01, 0.99, (8, 6)).astype(np.float32)
        pos = 5.0 * np.arange(8)
        perm = rng.permutation(8)
        np.testing.assert_allclose(
            context_features(p, pos, D)[perm], context_features(p[perm], pos[perm], D)
        )

    def test_unscored_slices_stay_nan_and_are_skipped(self):
        p = _probs([0.01, 0.99, 0.01, 0.01])
        p[1] = np.nan
        x = context_features(p, 5.0 * np.arange(4), D)
        assert np.isnan(x[1]).all()
        # slice 0 sees slices 2 (10 mm) by interpolation across the gap, not the NaN
        assert x[0, 2 * 6 + ANY] == pytest.approx(logit(0.01))

    def test_a_single_slice_is_its_own_neighbourhood(self):
        x = context_features(_probs([0.7]), [12.5], D)
        assert x.shape == (1, n_features(D))
        np.testing.assert_allclose(x[0].reshape(-1, 6)[:, ANY], logit(0.7))

    def test_nothing_scored(self):
        assert np.isnan(context_features(np.full((3, 6), np.nan), [0, 5, 10], D)).all()

    def test_shapes_are_checked(self):
        with pytest.raises(ValueError, match="3 positions for 2 slices"):
            context_features(_probs([0.1, 0.2]), [0, 5, 10], D)
        with pytest.raises(ValueError, match=r"\(N, 6\)"):
            context_features(np.zeros((2, 5)), [0, 5], D)


class TestSliceContext:
    def test_identity_changes_nothing(self):
        p = np.random.default_rng(2).uniform(0.001, 0.999, (6, 6)).astype(np.float32)
        out = identity_context(D).apply(p, 5.0 * np.arange(6))
        np.testing.assert_allclose(out, p, atol=1e-6)

    def test_a_small_bleed_next_to_a_big_one_is_raised(self):
        # 'any' at the edge of a hematoma: the network says 0.10 next to a slice at 0.99
        ctx = _neighbour_weights(own=1.0, max5=0.5)
        pos = 5.0 * np.arange(4)
        out = ctx.apply(_probs([0.01, 0.10, 0.99, 0.99]), pos)
        by_hand = 1.0 / (1.0 + np.exp(-(logit(0.10) + 0.5 * logit(0.99))))
        assert out[1, ANY] == pytest.approx(by_hand, rel=1e-5)
        assert out[1, ANY] > 0.5 > 0.10
        # the other labels were left as they were (identity rows)
        np.testing.assert_allclose(out[:, :ANY], 0.01, atol=1e-6)

    def test_unscored_rows_stay_nan(self):
        p = _probs([0.2, 0.3, 0.4])
        p[2] = np.nan
        out = _neighbour_weights(1.0, 0.5).apply(p, [0.0, 5.0, 10.0])
        assert np.isnan(out[2]).all() and not np.isnan(out[:2]).any()
        assert out.dtype == np.float32

    def test_dict_round_trip(self):
        ctx = _neighbour_weights(0.8, 0.4, bias=-1.0)
        back = SliceContext.from_dict(ctx.to_dict())
        assert back.distances_mm == ctx.distances_mm
        np.testing.assert_array_equal(back.weight, ctx.weight)
        np.testing.assert_array_equal(back.bias, ctx.bias)

    @pytest.mark.parametrize(
        ("change", "needle"),
        [
            ({"weight": np.zeros((6, 12))}, "weight must be (6, 30) for 2 distance(s)"),
            ({"bias": [0.0] * 5}, "bias must have 6 values"),
            ({"distances_mm": [5.0, -1.0]}, "distances_mm must be positive"),
            ({"bias": [float("inf")] * 6}, "finite"),
        ],
    )
    def test_bad_fields_are_named(self, change, needle):
        d = {**identity_context(D).to_dict(), **change}
        with pytest.raises(ValueError, match="slice_context") as info:
            SliceContext.from_dict(d)
        assert needle in str(info.value)

    def test_missing_fields_are_named(self):
        with pytest.raises(ValueError, match="lacks weight, bias"):
            SliceContext.from_dict({"distances_mm": [5.0]})
