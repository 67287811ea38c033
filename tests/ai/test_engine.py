"""The engine: which model, the shared predictor, and SeriesScoring, which the window feeds
slice by slice and score_series fills at once; both must say the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ichviewer.ai import engine
from ichviewer.ai.predictor import Predictor
from ichviewer.ai.results import SliceResult
from ichviewer.core.scope import Scope
from ichviewer.io import SeriesReader, scan
from ichviewer.site_config import SiteConfig
from tests.ai.conftest import write_ct_series


class TestResolveModelPath:
    def test_cli_then_site_then_user_then_bundled(self, tmp_path: Path) -> None:
        from ichviewer.paths import bundled_model_path

        site = SiteConfig(model_path=tmp_path / "site.pt")
        none = SiteConfig()
        cli, user = tmp_path / "cli.pt", tmp_path / "user.pt"
        assert engine.resolve_model_path(cli, site=site, user=user) == cli
        assert engine.resolve_model_path(None, site=site, user=user) == tmp_path / "site.pt"
        assert engine.resolve_model_path(None, site=none, user=user) == user
        assert engine.resolve_model_path(None, site=none) == bundled_model_path()


class TestLoadModel:
    def test_one_predictor_per_file_with_its_info(self, tiny_ckpt: Path) -> None:
        a = engine.load_model(tiny_ckpt, SiteConfig())
        b = engine.load_model(tiny_ckpt, SiteConfig())
        assert a.predictor is b.predictor
        assert a.info.sha256 == a.predictor.sha256 and Path(a.info.path) == tiny_ckpt
        assert a.info.thresholds == tuple(float(t) for t in a.predictor.thresholds)

    def test_a_missing_file_is_a_model_load_error(self, tmp_path: Path) -> None:
        from ichviewer.errors import ModelLoadError

        with pytest.raises(ModelLoadError, match="cannot read the checkpoint"):
            engine.load_predictor(tmp_path / "nowhere.pt")


class TestSeriesScoring:
    @pytest.fixture()
    def series(self, tmp_path: Path):  # noqa: ANN201
        write_ct_series(tmp_path / "s", n=6)
        return scan([tmp_path / "s"]).best_series()

    def test_incremental_equals_score_series(self, ctx_ckpt: Path, series) -> None:  # noqa: ANN001
        predictor = Predictor(ctx_ckpt, device="cpu", precision="fp32")
        whole = engine.score_series(predictor, series)
        volume = SeriesReader(series).load_all()
        s = engine.SeriesScoring(predictor, series, whole.scope)
        assert s.todo(2) == [2, 3, 1, 4, 0, 5] and s.n_scored == 0
        for i in (2, 3, 1, 4, 0):
            s.add(i, predictor.predict_one(volume[i]))
        assert s.shown_at(5) is None and s.context_pending(4) and not s.context_pending(0)
        assert s.todo(0) == [5]
        s.add(5, predictor.predict_one(volume[5]))
        np.testing.assert_allclose(s.raw, whole.raw, atol=1e-5)
        np.testing.assert_allclose(s.shown, whole.shown, atol=1e-5)
        assert (s.flagged == whole.flagged).all() and s.decision == whole.decision
        assert not np.allclose(s.shown, s.raw)  # the series context is applied

    def test_out_of_scope_flags_nothing(self, tiny_ckpt: Path, series) -> None:  # noqa: ANN001
        predictor = Predictor(tiny_ckpt, device="cpu", precision="fp32")
        s = engine.SeriesScoring(predictor, series, Scope(False, "not a head CT"))
        for i in range(series.n_slices):
            s.add(i, SliceResult(np.ones(6, np.float32), from_cache=True))
        assert not s.flagged.any() and s.flagged_slices() == [] and not s.decision.flagged
        assert np.isinf(s.thresholds).all() and s.n_from_cache == series.n_slices

    def test_without_a_model_nothing_is_shown_or_flagged(self, series) -> None:  # noqa: ANN001
        s = engine.SeriesScoring(None, series)
        assert s.decision is None and np.isnan(s.shown).all() and not s.flagged.any()
