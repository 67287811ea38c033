"""Site-wide configuration for reading rooms, set by an administrator for every workstation.

One JSON file, ``/etc/ichviewer/site.json`` on Linux (``ICHVIEWER_SITE_CONFIG`` points
elsewhere, e.g. a network share or ``%PROGRAMDATA%`` on Windows), read-only for users and
separate from their own settings::

    {
      "model": "/srv/models/ich-rsna-v3.pt",
      "thresholds": {"any": 0.35, "subdural": 0.4},
      "auto_score": true,
      "patient_context": true,
      "presets": [{"name": "posterior fossa", "level": 40, "width": 120}],
      "pacs": {"aet": "ICHVIEWER", "port": 11112, "allow_aets": ["PACS1"],
               "nodes": [{"name": "main", "aet": "PACS1", "host": "pacs", "port": 104}]}
    }

Every key is optional. A relative ``model`` path is taken relative to the file's folder.
Precedence for the model: ``--model`` on the command line > site config > bundled model.
Site thresholds replace the operating thresholds of the site's default model (the site's
``model``, else the bundled one) label by label; a checkpoint the user opens explicitly
keeps its own (thresholds belong to a model; see ichviewer.ai.site). A user's own
choices (settings) are never rewritten: a site ``auto_score`` or ``patient_context`` (the
patient's name, MRN, age and sex in the image corner) wins while it is set. A missing
file is the normal case (no site policy); an unreadable or invalid one is logged as a
warning naming the file and the key, and the defaults are used for what is wrong, so a
typo by an administrator never stops the viewer. ``presets`` adds display windows (a user's
own preset of the same name wins); ``pacs`` is read by :mod:`ichviewer.net.nodes`. No Qt,
no torch: safe on every start path.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ichviewer.core.labels import LABELS
from ichviewer.core.presets import Preset
from ichviewer.paths import bundled_model_path

logger = logging.getLogger("ichviewer")

ENV_VAR = "ICHVIEWER_SITE_CONFIG"
KNOWN_KEYS = (
    "model",
    "thresholds",
    "auto_score",
    "pacs",  # read by ichviewer.net.nodes
    "patient_context",  # name, MRN, age, sex in the image corner: forced on or off
    "presets",  # window presets: [{"name", "level", "width"}], added to the built-in ones
)


def default_site_config_path() -> Path:
    """Where an administrator puts the file when ``ICHVIEWER_SITE_CONFIG`` is not set."""
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return Path(base) / "ichviewer" / "site.json"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/ichviewer/site.json")
    return Path("/etc/ichviewer/site.json")


def site_config_path() -> Path:
    """The file that is read: ``$ICHVIEWER_SITE_CONFIG`` if set, else the platform default."""
    override = os.environ.get(ENV_VAR)
    return Path(override).expanduser() if override else default_site_config_path()


@dataclass(frozen=True)
class SiteConfig:
    """What the site file sets; ``None`` / empty means "not set here, use the default".

    ``source`` is the file the values came from, or ``None`` when no file was read.
    ``warnings`` lists what was ignored and why (each names the file and key).
    """

    model_path: Path | None = None
    thresholds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    auto_score: bool | None = None
    patient_context: bool | None = None
    #: Window presets the site adds to the built-in ones (or overrides by name).
    presets: tuple[Preset, ...] = ()
    source: Path | None = None
    warnings: tuple[str, ...] = ()


def _warn(problems: list[str], path: Path, key: str, why: str) -> None:
    msg = f"site config {path}: {key}: {why}; using the default"
    problems.append(msg)
    logger.warning("%s", msg)


def _parse_model(raw: Any, path: Path, problems: list[str]) -> Path | None:
    if not isinstance(raw, str) or not raw.strip():
        _warn(problems, path, "model", f"expected a file path, got {raw!r}")
        return None
    model = Path(raw).expanduser()
    if not model.is_absolute():
        model = path.parent / model
    if not model.is_file():
        _warn(problems, path, "model", f"{model} does not exist")
        return None
    return model


def _parse_thresholds(raw: Any, path: Path, problems: list[str]) -> dict[str, float]:
    if not isinstance(raw, dict):
        _warn(problems, path, "thresholds", f"expected an object label -> number, got {raw!r}")
        return {}
    out: dict[str, float] = {}
    for label, value in raw.items():
        key = f"thresholds.{label}"
        if label not in LABELS:
            _warn(problems, path, key, f"unknown label (known: {', '.join(LABELS)})")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            _warn(problems, path, key, f"expected a number in [0, 1], got {value!r}")
        elif not (math.isfinite(value) and 0.0 <= value <= 1.0):
            _warn(problems, path, key, f"{value!r} is outside [0, 1]")
        else:
            out[label] = float(value)
    return out


def _parse_presets(raw: Any, path: Path, problems: list[str]) -> tuple[Preset, ...]:
    """Window presets, entry by entry: a bad or repeated entry is skipped with a warning."""
    if not isinstance(raw, list):
        _warn(problems, path, "presets", f"expected a list of presets, got {raw!r}")
        return ()
    out: list[Preset] = []
    for i, entry in enumerate(raw):
        try:
            p = Preset.from_json(entry, f"presets[{i}]")
        except ValueError as exc:
            _warn(problems, path, f"presets[{i}]", str(exc).removeprefix(f"presets[{i}]: "))
            continue
        if any(q.name.casefold() == p.name.casefold() for q in out):
            _warn(problems, path, f"presets[{i}]", f"preset name {p.name!r} appears again")
            continue
        out.append(p)
    return tuple(out)


def load_site_config(path: str | Path | None = None) -> SiteConfig:
    """Read the site file (``path`` or :func:`site_config_path`). Never raises.

    A missing file returns an empty :class:`SiteConfig` silently; a file that cannot be read
    or parsed, or a bad key, is logged as a warning and that part falls back to defaults.
    """
    path = Path(path) if path is not None else site_config_path()
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SiteConfig()
    except (OSError, UnicodeDecodeError) as exc:
        _warn(problems, path, "(file)", f"cannot read it ({exc})")
        return SiteConfig(source=path, warnings=tuple(problems))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        _warn(problems, path, "(file)", f"not valid JSON (line {exc.lineno}: {exc.msg})")
        return SiteConfig(source=path, warnings=tuple(problems))
    if not isinstance(data, dict):
        _warn(problems, path, "(file)", "expected a JSON object at the top level")
        return SiteConfig(source=path, warnings=tuple(problems))

    for key in data:
        if key not in KNOWN_KEYS and not key.startswith("_"):  # "_comment" keys are allowed
            _warn(problems, path, key, f"unknown key (known: {', '.join(KNOWN_KEYS)})")
    model = _parse_model(data["model"], path, problems) if "model" in data else None
    thresholds = (
        _parse_thresholds(data["thresholds"], path, problems) if "thresholds" in data else {}
    )
    auto_score = None
    if "auto_score" in data:
        if isinstance(data["auto_score"], bool):
            auto_score = data["auto_score"]
        else:
            _warn(
                problems, path, "auto_score", f"expected true or false, got {data['auto_score']!r}"
            )
    patient_context = None
    if "patient_context" in data:
        if isinstance(data["patient_context"], bool):
            patient_context = data["patient_context"]
        else:
            got = data["patient_context"]
            _warn(problems, path, "patient_context", f"expected true or false, got {got!r}")
    presets = _parse_presets(data["presets"], path, problems) if "presets" in data else ()
    return SiteConfig(
        model_path=model,
        thresholds=MappingProxyType(thresholds),
        auto_score=auto_score,
        presets=presets,
        patient_context=patient_context,
        source=path,
        warnings=tuple(problems),
    )


def effective_model_path(
    cli_model: str | Path | None = None, site: SiteConfig | None = None
) -> Path:
    """The checkpoint to load: ``--model`` > site config > bundled model.

    ``site`` defaults to :func:`load_site_config`. The command-line path is returned as
    given even if it does not exist (the loader reports that error to the user).
    """
    if cli_model:
        return Path(cli_model)
    site = load_site_config() if site is None else site
    return site.model_path if site.model_path is not None else bundled_model_path()


def apply_threshold_overrides(
    thresholds: Mapping[str, float], site: SiteConfig | None = None
) -> dict[str, float]:
    """The checkpoint's per-label thresholds with the site's values put over them."""
    site = load_site_config() if site is None else site
    return {**dict(thresholds), **dict(site.thresholds)}


def effective_auto_score(user_setting: bool, site: SiteConfig | None = None) -> bool:
    """Whether to score studies on open: the site's ``auto_score`` if set, else the user's."""
    site = load_site_config() if site is None else site
    return user_setting if site.auto_score is None else site.auto_score


def effective_patient_context(user_setting: bool, site: SiteConfig | None = None) -> bool:
    """Whether the image corner shows the patient context: the site's value if set, else the
    user's (off by default)."""
    site = load_site_config() if site is None else site
    return user_setting if site.patient_context is None else site.patient_context
