"""Fitting the series-context stage on a split's network outputs (training.context)."""

from __future__ import annotations

import numpy as np
import pytest

from ichviewer.core.labels import LABELS
from training.context import apply_by_series, fit_context, series_groups
from training.metrics import roc_auc

ANY = LABELS.index("any")


def edge_blind_split(n_series: int, seed: int) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """Series of 12 slices at 5 mm, each with a run of bleeding slices; the 'network' is
    sure in the middle of a run and unsure at its two edges (as ours is on thin bleeds)."""
    rng = np.random.default_rng(seed)
    probs, labels, series, pos = [], [], [], []
    for s in range(n_series):
        y = np.zeros((12, 6), np.uint8)
        p = rng.uniform(0.01, 0.25, (12, 6))
        if rng.random() < 0.6:
            a = int(rng.integers(1, 7))
            b = a + int(rng.integers(3, 6))
            y[a:b, ANY] = 1
            p[a + 1 : b - 1, ANY] = rng.uniform(0.85, 0.99, b - a - 2)
            p[[a, b - 1], ANY] = rng.uniform(0.05, 0.3, 2)  # the edges look like noise
        order = rng.permutation(12)  # rows arrive in any order; positions say where
        probs.append(p[order])
        labels.append(y[order])
        series += [f"s{seed}-{s}"] * 12
        pos.append(5.0 * order + 100.0)
    return np.concatenate(probs), np.concatenate(labels), series, np.concatenate(pos)


class TestFitContext:
    def test_learns_that_edge_slices_bleed(self):
        p, y, s, pos = edge_blind_split(150, seed=0)
        ctx = fit_context(p, y, s, pos)
        pt, yt, st, post = edge_blind_split(80, seed=1)  # a fresh draw
        revised = apply_by_series(ctx, pt, st, post)
        before = roc_auc(yt[:, ANY], pt[:, ANY])
        after = roc_auc(yt[:, ANY], revised[:, ANY])
        assert before < 0.95
        assert after > before + 0.03
        assert after > 0.97

    def test_series_do_not_leak_into_each_other(self):
        p, y, s, pos = edge_blind_split(100, seed=2)
        ctx = fit_context(p, y, s, pos)
        one = slice(0, 12)
        alone = ctx.apply(p[one], pos[one])
        np.testing.assert_allclose(apply_by_series(ctx, p, s, pos)[one], alone, atol=1e-7)

    def test_own_labels_only_still_learns_the_edges_and_ignores_other_labels(self):
        p, y, s, pos = edge_blind_split(150, seed=0)
        # another label runs where 'any' does: "all" may lean on it, "own" must not
        p[:, 0] = np.where(y[:, ANY] == 1, 0.6, 0.05)
        own = fit_context(p, y, s, pos, labels_seen="own")
        every = fit_context(p, y, s, pos, labels_seen="all")
        others = [c for c in range(own.weight.shape[1]) if c % 6 != ANY]
        assert np.abs(own.weight[ANY, others]).max() == 0
        assert np.abs(every.weight[ANY, others]).max() > 0.1
        pt, yt, st, post = edge_blind_split(80, seed=1)
        revised = apply_by_series(own, pt, st, post)
        assert roc_auc(yt[:, ANY], revised[:, ANY]) > roc_auc(yt[:, ANY], pt[:, ANY]) + 0.03
        with pytest.raises(ValueError, match="labels_seen"):
            fit_context(p, y, s, pos, labels_seen="some")

    def test_bad_shapes_are_refused(self):
        p, y, s, pos = edge_blind_split(3, seed=3)
        with pytest.raises(ValueError, match="labels must be"):
            fit_context(p, y[:, :5], s, pos)


def test_series_groups_keep_first_seen_order():
    groups = series_groups(["b", "a", "b", "c", "a"])
    assert [g.tolist() for g in groups] == [[0, 2], [1, 4], [3]]
