"""Viewer settings kept between sessions (QSettings, INI format, under paths.config_dir()).

What is kept: window geometry and dock layout, last preset and mode, cine speed, recent
studies, the series chosen per study, whether the patient name is shown, and the AI's
settings (automatic scoring, heatmap opacity and colours, a checkpoint chosen instead of
the bundled one), the user's own window presets (``window_presets``, the JSON of
:meth:`ichviewer.core.presets.PresetTable.to_json`) and PACS nodes (``pacs_nodes``). A file that
cannot be parsed is moved aside and defaults are used; a value of the wrong kind falls back
to its default. Either way the caller gets a warning to show the user.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from PySide6 import QtCore

from ichviewer import paths
from ichviewer.core.heatmap import COLORMAPS
from ichviewer.core.presets import Preset, PresetTable, presets_from_json, presets_to_json
from ichviewer.site_config import load_site_config
from ichviewer.ui.mouse import DEFAULT_MOUSE, complete, valid_bindings

logger = logging.getLogger("ichviewer.ui")

SETTINGS_FILE = "ichviewer.ini"
MAX_RECENT = 10
MAX_SERIES_CHOICES = 200
FPS_RANGE = (1, 60)
OPACITY_RANGE = (10, 100)


@dataclass
class ViewerSettings:
    """Everything the viewer remembers; defaults are what a first start looks like."""

    geometry: bytes = b""
    window_state: bytes = b""
    preset: str = "brain"
    mode: str = "linear"
    cine_fps: int = 10
    show_patient_name: bool = False
    recent: list[list[str]] = field(default_factory=list)
    series_choice: dict[str, str] = field(default_factory=dict)
    ai_autoscore: bool = True
    heatmap_opacity: int = 60
    heatmap_colormap: str = "jet"
    model_path: str = ""
    #: what each mouse drag and the wheel do (ichviewer.ui.mouse; PACS-like defaults)
    mouse: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MOUSE))
    #: The user's window presets (added in Settings, or overriding a built-in / site one).
    user_presets: list[Preset] = field(default_factory=list)
    #: The user's PACS nodes (Settings > PACS nodes; PacsNode.to_dict), beside the site's.
    pacs_nodes: list[dict] = field(default_factory=list)

    def add_recent(self, entry: list[str]) -> None:
        """Put a study (its list of paths) first in the recent list, without duplicates."""
        entry = [str(p) for p in entry]
        self.recent = [entry] + [r for r in self.recent if r != entry]
        del self.recent[MAX_RECENT:]

    def remember_series(self, study_uid: str, series_uid: str) -> None:
        self.series_choice.pop(study_uid, None)
        self.series_choice[study_uid] = series_uid
        while len(self.series_choice) > MAX_SERIES_CHOICES:
            self.series_choice.pop(next(iter(self.series_choice)))


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def _open(path: Path) -> QtCore.QSettings:
    return QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)


def load_settings(path: Path | None = None) -> tuple[ViewerSettings, list[str]]:
    """Read settings; returns (settings, warnings). Never raises for a bad file."""
    path = path or settings_path()
    out = ViewerSettings()
    warnings: list[str] = []
    if not path.exists():
        return out, warnings
    qs = _open(path)
    if qs.status() != QtCore.QSettings.Status.NoError:
        aside = paths.set_aside(path)
        where = f"; the unreadable file was kept as {aside.name}" if aside else ""
        warnings.append(f"Settings file {path.name} could not be read; defaults are used{where}")
        logger.warning(warnings[-1])
        return out, warnings

    def bad(key: str) -> None:
        warnings.append(f"Setting '{key}' in {path.name} is invalid; using the default")
        logger.warning(warnings[-1])

    for key in ("geometry", "window_state"):
        v = qs.value(key)
        if v is None:
            continue
        if isinstance(v, QtCore.QByteArray):
            setattr(out, key, bytes(v.data()))
        else:
            bad(key)
    v = qs.value("window_presets")
    if v is not None:
        try:
            out.user_presets = list(presets_from_json(str(v), "window_presets"))
        except ValueError as exc:
            bad("window_presets")
            logger.warning("%s", exc)
    v = qs.value("preset")
    if v is not None:
        if isinstance(v, str) and v.casefold() in _known_presets(out.user_presets):
            out.preset = v
        else:
            bad("preset")
    v = qs.value("mode")
    if v is not None:
        if v in ("linear", "sigmoid"):
            out.mode = str(v)
        else:
            bad("mode")
    v = qs.value("cine_fps")
    if v is not None:
        try:
            fps = int(v)
            if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
                raise ValueError
            out.cine_fps = fps
        except (TypeError, ValueError):
            bad("cine_fps")
    for key in ("show_patient_name", "ai_autoscore"):
        v = qs.value(key)
        if v is not None:
            if str(v).lower() in ("true", "false", "1", "0"):
                setattr(out, key, str(v).lower() in ("true", "1"))
            else:
                bad(key)
    v = qs.value("heatmap_opacity")
    if v is not None:
        try:
            opacity = int(v)
            if not OPACITY_RANGE[0] <= opacity <= OPACITY_RANGE[1]:
                raise ValueError
            out.heatmap_opacity = opacity
        except (TypeError, ValueError):
            bad("heatmap_opacity")
    v = qs.value("heatmap_colormap")
    if v is not None:
        if v in COLORMAPS:
            out.heatmap_colormap = str(v)
        else:
            bad("heatmap_colormap")
    v = qs.value("model_path")
    if v is not None:
        out.model_path = str(v)
    v = qs.value("mouse")
    if v is not None:
        try:
            value = json.loads(str(v))
            if not valid_bindings(value):
                raise ValueError
            out.mouse = complete(value)
        except ValueError:
            bad("mouse")
    for key, check in (("recent", _valid_recent), ("series_choice", _valid_choice)):
        v = qs.value(key)
        if v is None:
            continue
        try:
            value = json.loads(str(v))
            if not check(value):
                raise ValueError
            setattr(out, key, value)
        except ValueError:
            bad(key)
    del out.recent[MAX_RECENT:]
    v = qs.value("pacs_nodes")
    if v is not None:
        try:
            out.pacs_nodes = _valid_nodes(json.loads(str(v)))
        except ValueError:
            bad("pacs_nodes")
    return out, warnings


def _valid_nodes(value: object) -> list[dict]:
    """PACS nodes as saved (ValueError when one is not a valid node)."""
    from ichviewer.errors import IchViewerError
    from ichviewer.net.nodes import PacsNode

    if not isinstance(value, list):
        raise ValueError("expected a list")
    try:
        return [PacsNode.from_dict(d).to_dict() for d in value]
    except IchViewerError as exc:
        raise ValueError(str(exc)) from exc


def _known_presets(user: list[Preset]) -> set[str]:
    """Names (case-folded) a saved preset may have: rgb, built-in, the site's, the user's."""
    table = PresetTable(site=load_site_config().presets, user=user)
    return {"rgb", *(n.casefold() for n in table.names())}


def _valid_recent(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(e, list) and e and all(isinstance(p, str) for p in e) for e in value
    )


def _valid_choice(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def save_settings(settings: ViewerSettings, path: Path | None = None) -> bool:
    """Write settings; returns False (and logs) when the file cannot be written."""
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.warning("cannot create settings folder %s: %s", path.parent, exc)
        return False
    qs = _open(path)
    qs.clear()
    qs.setValue("geometry", QtCore.QByteArray(settings.geometry))
    qs.setValue("window_state", QtCore.QByteArray(settings.window_state))
    qs.setValue("preset", settings.preset)
    qs.setValue("mode", settings.mode)
    qs.setValue("cine_fps", int(settings.cine_fps))
    qs.setValue("show_patient_name", bool(settings.show_patient_name))
    qs.setValue("recent", json.dumps(settings.recent))
    qs.setValue("series_choice", json.dumps(settings.series_choice))
    qs.setValue("ai_autoscore", bool(settings.ai_autoscore))
    qs.setValue("heatmap_opacity", int(settings.heatmap_opacity))
    qs.setValue("heatmap_colormap", settings.heatmap_colormap)
    qs.setValue("model_path", settings.model_path)
    qs.setValue("mouse", json.dumps(settings.mouse))
    qs.setValue("window_presets", json.dumps(presets_to_json(settings.user_presets)))
    qs.setValue("pacs_nodes", json.dumps(settings.pacs_nodes))
    qs.sync()
    if qs.status() != QtCore.QSettings.Status.NoError:
        logger.warning("settings could not be written to %s (%s)", path, qs.status().name)
        return False
    return True
