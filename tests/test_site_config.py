"""Site-wide configuration: precedence --model > site file > bundled, and bad files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ichviewer import site_config
from ichviewer.paths import bundled_model_path
from ichviewer.site_config import (
    SiteConfig,
    apply_threshold_overrides,
    effective_auto_score,
    effective_model_path,
    load_site_config,
)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    p = tmp_path / "models" / "site-model.pt"
    p.parent.mkdir()
    p.write_bytes(b"not really a checkpoint; only its existence matters here")
    return p


class TestSiteConfigPath:
    def test_env_var_overrides_default(self, tmp_path, monkeypatch):
        monkeypatch.setenv(site_config.ENV_VAR, str(tmp_path / "x.json"))
        assert site_config.site_config_path() == tmp_path / "x.json"

    def test_default_on_linux_is_etc(self, monkeypatch):
        monkeypatch.delenv(site_config.ENV_VAR, raising=False)
        monkeypatch.setattr(site_config.sys, "platform", "linux")
        assert site_config.site_config_path() == Path("/etc/ichviewer/site.json")


class TestLoadSiteConfig:
    def test_missing_file_is_silent_and_empty(self, site_file, caplog):
        with caplog.at_level(logging.WARNING, logger="ichviewer"):
            cfg = load_site_config()
        assert cfg == SiteConfig()
        assert caplog.records == []

    def test_full_file(self, site_file, model_file):
        path = site_file(
            {
                "model": str(model_file),
                "thresholds": {"any": 0.3, "subdural": 0.45},
                "auto_score": False,
            }
        )
        cfg = load_site_config()
        assert cfg.model_path == model_file
        assert dict(cfg.thresholds) == {"any": 0.3, "subdural": 0.45}
        assert cfg.auto_score is False
        assert cfg.source == path
        assert cfg.warnings == ()

    def test_relative_model_is_relative_to_the_file(self, site_file, tmp_path):
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc" / "m.pt").write_bytes(b"x")
        site_file({"model": "m.pt"})
        assert load_site_config().model_path == tmp_path / "etc" / "m.pt"

    def test_invalid_json_warns_naming_the_file(self, site_file, caplog):
        path = site_file('{"model": "/x.pt",,}')
        with caplog.at_level(logging.WARNING, logger="ichviewer"):
            cfg = load_site_config()
        assert cfg.model_path is None and dict(cfg.thresholds) == {}
        assert str(path) in caplog.text and "not valid JSON" in caplog.text

    def test_top_level_not_an_object(self, site_file):
        site_file([1, 2])
        cfg = load_site_config()
        assert cfg.model_path is None
        assert "top level" in cfg.warnings[0]

    def test_missing_model_warns_and_is_ignored(self, site_file, tmp_path, caplog):
        path = site_file({"model": str(tmp_path / "gone.pt"), "thresholds": {"any": 0.2}})
        with caplog.at_level(logging.WARNING, logger="ichviewer"):
            cfg = load_site_config()
        assert cfg.model_path is None
        assert dict(cfg.thresholds) == {"any": 0.2}  # the good part still applies
        assert f"site config {path}: model:" in caplog.text and "gone.pt" in caplog.text

    @pytest.mark.parametrize(
        ("thresholds", "bad_key"),
        [
            ({"anything": 0.5}, "thresholds.anything"),
            ({"any": 1.5}, "thresholds.any"),
            ({"any": "high"}, "thresholds.any"),
            ({"any": True}, "thresholds.any"),
            ({"any": float("nan")}, "thresholds.any"),
            ([0.5], "thresholds"),
        ],
    )
    def test_bad_thresholds_name_the_key(self, site_file, thresholds, bad_key):
        path = site_file(json.dumps({"thresholds": thresholds}, allow_nan=True))
        cfg = load_site_config()
        assert dict(cfg.thresholds) == {}
        assert len(cfg.warnings) == 1
        assert cfg.warnings[0].startswith(f"site config {path}: {bad_key}:")

    def test_bad_auto_score_and_unknown_key(self, site_file):
        site_file({"auto_score": "yes", "modle": "/x.pt", "_comment": "fine"})
        cfg = load_site_config()
        assert cfg.auto_score is None
        keys = sorted(w.split(": ")[1] for w in cfg.warnings)
        assert keys == ["auto_score", "modle"]

    def test_unreadable_file(self, site_file):
        path = site_file("{}")
        path.unlink()
        path.mkdir()  # a folder where the file should be: reading it fails
        cfg = load_site_config()
        assert cfg.source == path and "cannot read" in cfg.warnings[0]


class TestPrecedence:
    def test_cli_beats_site_and_bundled(self, site_file, model_file, tmp_path):
        site_file({"model": str(model_file)})
        assert effective_model_path(tmp_path / "cli.pt") == tmp_path / "cli.pt"

    def test_site_beats_bundled(self, site_file, model_file):
        site_file({"model": str(model_file)})
        assert effective_model_path() == model_file

    def test_bundled_without_site(self, site_file):
        assert effective_model_path() == bundled_model_path()

    def test_bundled_when_site_model_is_bad(self, site_file, tmp_path):
        site_file({"model": str(tmp_path / "gone.pt")})
        assert effective_model_path() == bundled_model_path()

    def test_thresholds_override_per_label(self, site_file):
        site_file({"thresholds": {"subdural": 0.4}})
        ckpt = {"any": 0.5, "subdural": 0.5, "epidural": 0.6}
        assert apply_threshold_overrides(ckpt) == {"any": 0.5, "subdural": 0.4, "epidural": 0.6}
        assert ckpt["subdural"] == 0.5  # the checkpoint's dict is not modified

    def test_auto_score_site_beats_user(self, site_file):
        assert effective_auto_score(True) is True  # no site file: the user's choice
        site_file({"auto_score": False})
        assert effective_auto_score(True) is False

    def test_explicit_site_object_is_used(self, model_file):
        site = SiteConfig(model_path=model_file)
        assert effective_model_path(None, site) == model_file
