"""Checkpoints as a reading room's site policy wants them (ichviewer.site_config).

The site file may name the model every workstation uses and override its operating
thresholds. Thresholds belong to a model, so the overrides apply to the site's default
model only (the site's ``model``, else the bundled one); a checkpoint the user opens
explicitly (``--model``, File > Load model...) keeps its own thresholds.
"""

from __future__ import annotations

from pathlib import Path

from ichviewer.ai.checkpoint import LoadedCheckpoint, load_checkpoint
from ichviewer.site_config import (
    SiteConfig,
    apply_threshold_overrides,
    effective_model_path,
    load_site_config,
)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def apply_site_policy(ckpt: LoadedCheckpoint, site: SiteConfig) -> LoadedCheckpoint:
    """Put the site's thresholds over ``ckpt``'s when it is the site's default model."""
    if not site.thresholds or ckpt.path is None:
        return ckpt
    if not _same_file(Path(ckpt.path), effective_model_path(None, site)):
        return ckpt
    ckpt.thresholds = apply_threshold_overrides(ckpt.thresholds, site)
    ckpt.threshold_source = f"site config {site.source}: " + ", ".join(sorted(site.thresholds))
    return ckpt


def load_site_checkpoint(path: str | Path, site: SiteConfig | None = None) -> LoadedCheckpoint:
    """:func:`load_checkpoint` with the site policy applied (``site`` read when not given)."""
    site = load_site_config() if site is None else site
    return apply_site_policy(load_checkpoint(path), site)
