"""Lesion masks as extra supervision of the class activation maps (synthetic data only).

The generator knows where every hemorrhage is. ``synth`` writes each study's per-slice
lesion bitmasks (bit i = SUBTYPES[i]) to ``<data>/masks/<study>.npz`` keyed by
SOPInstanceUID; ``fit --mask-loss W`` then caches them at the model's input size (the same
resize as the images) and adds W x a per-cell BCE between each label's map of logits
``S_c + b_c`` (the map the CAM shows; see ichviewer.ai.network) and whether the cell holds
that lesion. The heatmap is taught where the lesion is, and a small lesion gets a gradient
of its own instead of 1/(h*w) of the image's. Slices without a mask (real data) add nothing.

This module is numpy only (the generator writes masks without torch); the loss itself,
:class:`training.engine.MaskLoss`, lives with the training step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from ichviewer.core.labels import LABELS, SUBTYPES
from ichviewer.io import SliceRef
from training.cache import file_stamp
from training.metrics import CONSPICUOUS_MM2

logger = logging.getLogger("training")

MASKS_DIR = "masks"


def write_study_masks(folder: Path, name: str, sop_uids: Sequence[str], masks: np.ndarray) -> Path:
    """``folder/name.npz`` with ``sop_uids`` (N,) and ``masks`` (N, H, W) uint8 bitmasks."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    np.savez_compressed(path, sop_uids=np.asarray(list(sop_uids)), masks=masks.astype(np.uint8))
    return path


def read_study_masks(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """SOPInstanceUID -> (H, W) bitmask of one file :func:`write_study_masks` wrote."""
    with np.load(path) as z:
        return dict(zip(map(str, z["sop_uids"]), z["masks"], strict=True))


def mask_index(folder: str | os.PathLike[str]) -> dict[str, tuple[Path, int]]:
    """SOPInstanceUID -> (npz file, row) of every mask file in ``folder`` (empty if none)."""
    out: dict[str, tuple[Path, int]] = {}
    folder = Path(folder)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.npz")):
        with np.load(path) as z:
            for row, uid in enumerate(z["sop_uids"]):
                out[str(uid)] = (path, row)
    return out


def lesion_areas(masks: np.ndarray, spacing: float) -> np.ndarray:
    """(N, 6) area in mm^2 of each label on each slice ('any': the union of subtypes) of
    (N, H, W) bitmasks with ``spacing`` mm pixels."""
    n = len(masks)
    out = np.zeros((n, len(LABELS)), np.float64)
    for bit in range(len(SUBTYPES)):
        out[:, bit] = ((masks >> bit) & 1).reshape(n, -1).sum(1)
    out[:, -1] = (masks.reshape(n, -1) > 0).sum(1)
    return out * spacing**2


def conspicuous(
    refs: Sequence[SliceRef], index: dict[str, tuple[Path, int]], min_mm2: float
) -> np.ndarray | None:
    """(N, 6) bool: whether each label's blood on each slice covers at least ``min_mm2``
    (from the generator's masks; a slice without a mask counts as conspicuous, as nothing
    says otherwise). None when no slice has a mask."""
    out = np.ones((len(refs), len(LABELS)), bool)
    by_file: dict[Path, list[tuple[int, int, float]]] = {}
    for i, r in enumerate(refs):
        if (src := index.get(r.sop_instance_uid)) is not None:
            ps = float(r.pixel_spacing[0]) if r.pixel_spacing else 1.0
            by_file.setdefault(src[0], []).append((i, src[1], ps))
    if not by_file:
        return None
    for path, rows in by_file.items():
        with np.load(path) as z:
            masks = z["masks"]
        for i, row, ps in rows:
            out[i] = lesion_areas(masks[row : row + 1], ps)[0] >= min_mm2
    return out


def counted_positives(data: str | os.PathLike[str], refs: Sequence[SliceRef]) -> np.ndarray | None:
    """Which positives of ``refs`` count towards a threshold's sensitivity
    (training.metrics.CONSPICUOUS_MM2), from the masks ``synth`` wrote under ``data``; None
    without them (every positive counts)."""
    return conspicuous(refs, mask_index(Path(data) / MASKS_DIR), CONSPICUOUS_MM2)


def resize_bits(mask: np.ndarray, size: int) -> np.ndarray:
    """(H, W) bitmask -> (size, size) bitmask, each bit resized by the image's own resize
    (ichviewer's resize_hu); a pixel keeps a bit when the lesion covers any of it, so a
    thin bleed does not vanish."""
    from ichviewer.ai.preprocess import resize_hu  # torch: only where fit needs it

    if mask.shape == (size, size):
        return mask.astype(np.uint8)
    out = np.zeros((size, size), np.uint8)
    for bit in range(len(SUBTYPES)):
        plane = (mask >> bit) & 1
        if plane.any():
            out |= (resize_hu(plane, size) > 0.01).astype(np.uint8) << bit
    return out


@dataclasses.dataclass(frozen=True)
class MaskCache:
    """(N, S, S) uint8 bitmasks in ``path`` and which rows have one (``has``)."""

    path: Path
    has: np.ndarray

    def open(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")


def build_mask_cache(
    refs: Sequence[SliceRef],
    index: dict[str, tuple[Path, int]],
    size: int,
    cache_dir: str | os.PathLike[str],
    name: str = "split",
) -> MaskCache:
    """Masks of ``refs`` at ``size`` (rows without a mask are zero and ``has`` False)."""
    h = hashlib.sha256(f"masks-v1-{size}".encode())
    stamps: dict[Path, str] = {}  # one stat per study file: rewritten masks get a new cache
    for r in refs:
        src = index.get(r.sop_instance_uid)
        path = src[0] if src else None
        if path is not None and path not in stamps:
            stamps[path] = file_stamp(path)
        h.update(f"{r.sop_instance_uid}\0{path or ''}\0{stamps.get(path, '')}\n".encode())
    key = h.hexdigest()[:20]
    cache_dir = Path(cache_dir)
    npy = cache_dir / f"masks-{name}-{size}-{key}.npy"
    meta = npy.with_suffix(".json")
    if npy.is_file() and meta.is_file():
        doc = json.loads(meta.read_text())
        if doc.get("n") == len(refs):
            return MaskCache(npy, np.asarray(doc["has"], bool))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(npy.stem + f".tmp{os.getpid()}.npy")
    arr = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(refs), size, size))
    has = np.zeros(len(refs), bool)
    by_file: dict[Path, list[tuple[int, int]]] = {}
    for i, r in enumerate(refs):
        if (src := index.get(r.sop_instance_uid)) is not None:
            by_file.setdefault(src[0], []).append((i, src[1]))
    for path, rows in by_file.items():
        with np.load(path) as z:
            masks = z["masks"]
        for i, row in rows:
            arr[i] = resize_bits(masks[row], size)
            has[i] = True
    arr.flush()
    del arr
    os.replace(tmp, npy)
    meta.write_text(json.dumps({"n": len(refs), "size": size, "has": has.tolist()}))
    logger.info("lesion mask cache %s: %d of %d slices have masks", npy.name, has.sum(), len(refs))
    return MaskCache(npy, has)
