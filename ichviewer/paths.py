"""Where ICH Viewer reads its resources and keeps caches, marks and settings.

User folders come from platformdirs and can be moved with environment variables (tests,
reading-room installs): ICHVIEWER_CACHE_DIR, ICHVIEWER_DATA_DIR, ICHVIEWER_CONFIG_DIR.
Resources (bundled model, demo study) are found the same way from a checkout, an installed
wheel and a PyInstaller bundle; ICHVIEWER_RESOURCES overrides. Nothing is ever written
into the install folder.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

APP = "ichviewer"

#: The bundled checkpoint and demo study, relative to the resources folder.
BUNDLED_MODEL = Path("model") / "ichviewer-densenet.pt"
DEMO_STUDY = Path("demo") / "series"


def _user_dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override)
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False))


def cache_dir() -> Path:
    """Per-user cache (AI results); safe to delete."""
    return _user_dir("ICHVIEWER_CACHE_DIR", "cache")


def data_dir() -> Path:
    """Per-user data that must survive (second-read marks)."""
    return _user_dir("ICHVIEWER_DATA_DIR", "data")


def config_dir() -> Path:
    """Per-user settings."""
    return _user_dir("ICHVIEWER_CONFIG_DIR", "config")


def resource_dir() -> Path:
    """The folder holding model/ and demo/ (see module docstring for the search order)."""
    override = os.environ.get("ICHVIEWER_RESOURCES")
    if override:  # an explicit choice is honoured even where it holds nothing
        return Path(override)
    candidates: list[Path] = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.append(Path(frozen) / "resources")
    candidates += [
        Path(__file__).resolve().parent.parent / "resources",  # checkout / editable install
        Path(sysconfig.get_path("data")) / "share" / APP / "resources",  # wheel data-files
    ]
    for c in candidates:
        if (c / "demo").is_dir() or (c / "model").is_dir():
            return c
    return candidates[0]


def bundled_model_path() -> Path:
    return resource_dir() / BUNDLED_MODEL


def demo_study_path() -> Path:
    return resource_dir() / DEMO_STUDY


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so a crash leaves either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def set_aside(path: Path, suffix: str = ".corrupt") -> Path | None:
    """Rename an unreadable file of ours to ``<name><suffix>`` (kept for the user, out of
    the way of a fresh one); the new path, or None when it could not be moved."""
    aside = path.with_name(path.name + suffix)
    k = 1
    while aside.exists():  # an earlier one is kept too, never overwritten
        aside = path.with_name(f"{path.name}{suffix}.{k}")
        k += 1
    try:
        os.replace(path, aside)
    except OSError:
        return None
    return aside


def remove_stale_temp_files(folder: Path, max_age_s: float = 3600.0) -> int:
    """Delete ``.<name>.<pid>.tmp`` files that :func:`atomic_write_bytes` left behind when
    the process writing them was killed (older than ``max_age_s``); returns how many."""
    import time

    n = 0
    try:
        entries = list(Path(folder).glob(".*.tmp"))
    except OSError:
        return 0
    for p in entries:
        try:
            if time.time() - p.stat().st_mtime > max_age_s:
                p.unlink()
                n += 1
        except OSError:
            continue
    return n
