"""Shared fixtures: where the real CT lives, and per-test user folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REALCT = SHARED / "data" / "realct"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Caches, marks and settings of every test go to a fresh temp folder."""
    base = tmp_path_factory.mktemp("userdirs")
    for var in ("ICHVIEWER_CACHE_DIR", "ICHVIEWER_DATA_DIR", "ICHVIEWER_CONFIG_DIR"):
        monkeypatch.setenv(var, str(base / var.lower()))
    # No site policy unless a test writes one (a workstation's /etc/ichviewer stays out).
    monkeypatch.setenv("ICHVIEWER_SITE_CONFIG", str(base / "no-site.json"))


@pytest.fixture
def site_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point ICHVIEWER_SITE_CONFIG at a file in tmp_path; returns a writer for it."""
    path = tmp_path / "etc" / "site.json"
    monkeypatch.setenv("ICHVIEWER_SITE_CONFIG", str(path))

    def write(content: object) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content)
        path.write_text(text, encoding="utf-8")
        return path

    return write


def realct(name: str) -> Path:
    """Path of a folder in ../shared/data/realct, or skip the test where it is absent."""
    p = REALCT / name
    if not p.exists():
        pytest.skip(f"{p} not present (../shared is not beside this checkout)")
    return p
