"""The data `fit` trains and validates on: the patient splits, the preprocessing caches
(rank 0 builds them, the other ranks reuse them), the training set with lesion masks for
``--mask-loss``, and the DataLoaders over them.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ichviewer.ai.preprocess import PreprocessSpec
from training import dist
from training.cache import build_cache
from training.data import SplitData, load_labelled, make_splits
from training.engine import CachedSlices, MaskedSlices
from training.masks import MASKS_DIR, build_mask_cache, mask_index

logger = logging.getLogger("training")


@dataclass
class FitData:
    """The patient splits and the datasets `fit` trains and validates on."""

    splits: dict[str, SplitData]
    train_ds: CachedSlices
    val_ds: CachedSlices | None
    mask_weight: float  # of the lesion-mask loss; 0 without masks


def load_splits(args: argparse.Namespace, cache_dir: str) -> dict[str, SplitData]:
    """Index the data folders and split them by patient."""
    data = load_labelled(args.data, cache_dir, args.labels)
    test = load_labelled(args.test_data, cache_dir, args.test_labels) if args.test_data else None
    return make_splits(data, args.split, args.split_seed, test)


def build_split_caches(
    splits: dict[str, SplitData],
    spec: PreprocessSpec,
    cache_dir: str,
    names: tuple[str, ...],
    workers: int | None,
    is_main: bool,
    progress: bool,
) -> dict[str, Any]:
    """Preprocessing caches of ``names`` (rank 0 builds, the others wait and reuse)."""
    caches: dict[str, Any] = {}
    for rank_turn in (True, False):
        if is_main == rank_turn:
            for name in names:
                if len(splits[name]) == 0:
                    continue
                bar = None
                if progress and is_main:
                    from tqdm import tqdm

                    bar = tqdm(
                        total=len(splits[name]), desc=f"cache {name}", leave=False, mininterval=2.0
                    )
                cb = (lambda d, n, b=bar: b.update(d - b.n)) if bar is not None else None
                caches[name] = build_cache(
                    [e.ref for e in splits[name].entries],
                    spec,
                    cache_dir,
                    name=name,
                    workers=workers,
                    progress=cb,
                )
                if bar is not None:
                    bar.close()
        dist.barrier()
    return caches


def masked_train_set(
    args: argparse.Namespace, split: SplitData, cache: Any, cache_dir: str
) -> tuple[CachedSlices, float]:
    """The training set with lesion masks from ``<data>/masks`` and the mask-loss weight
    (0, with a warning, when no slice has a mask)."""
    index = mask_index(Path(args.data) / MASKS_DIR)
    masks = build_mask_cache(
        [e.ref for e in split.entries], index, args.size, cache_dir, name="train"
    )
    n = int(masks.has.sum())
    if n == 0:
        logger.warning(
            "--mask-loss %g: no lesion masks under %s; training without the mask loss",
            args.mask_loss,
            Path(args.data) / MASKS_DIR,
        )
        return CachedSlices(cache, split.labels), 0.0
    if args.pool != "lse":
        logger.warning(
            "--mask-loss with --pool %s: the pooled score and the maps may pull "
            "apart; --pool lse is the pairing it is made for",
            args.pool,
        )
    logger.info("mask loss %g on %d of %d training slices", args.mask_loss, n, len(split))
    return MaskedSlices(cache, split.labels, masks), float(args.mask_loss)


def make_loader(
    ds: CachedSlices,
    sampler: dist.ShardSampler,
    batch_size: int,
    workers: int,
    device: torch.device,
    drop_last: bool,
) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=drop_last,
        prefetch_factor=4 if workers > 0 else None,
    )


def build_data(
    args: argparse.Namespace, info: dist.DistInfo, spec: PreprocessSpec, cache_dir: str
) -> FitData:
    """Split the data by patient, build the preprocessing caches and the datasets."""
    if not info.is_main:
        dist.barrier()  # rank 0 indexes the headers first; the others then read its cache
    splits = load_splits(args, cache_dir)
    if info.is_main:
        dist.barrier()
    for name in ("train", "val", "test"):
        logger.info("split %s: %s", name, splits[name].summary())
    if len(splits["train"]) == 0:
        raise ValueError("the training split is empty: no labelled slices were found")
    caches = build_split_caches(
        splits, spec, cache_dir, ("train", "val"), args.cache_workers, info.is_main, args.progress
    )
    train_ds = CachedSlices(caches["train"], splits["train"].labels)
    mask_weight = float(getattr(args, "mask_loss", 0.0) or 0.0)
    if mask_weight > 0 or getattr(args, "faint_px", 0):  # both need the lesion masks
        train_ds, mask_weight = masked_train_set(args, splits["train"], caches["train"], cache_dir)
    val_ds = CachedSlices(caches["val"], splits["val"].labels) if "val" in caches else None
    return FitData(splits, train_ds, val_ds, mask_weight)
