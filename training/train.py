"""``python -m training fit``: train a hemorrhage classifier, resumably, on one or many GPUs.

Shaped after torchvision's references/classification/train.py: :func:`get_args_parser`,
:func:`main`. Every epoch writes ``checkpoint.pth`` (model, optimizer, lr_scheduler, scaler,
epoch, args) to ``--output-dir`` and a JSON line to ``log.jsonl``; at the end the per-label
operating thresholds are chosen on the validation split and stored in the checkpoint, which
``python -m training export`` turns into the viewer's checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ichviewer.ai.network import build_model
from ichviewer.ai.preprocess import PreprocessSpec
from training import dist
from training.cache import build_cache
from training.data import SplitData, load_labelled, make_splits
from training.engine import (
    CachedSlices,
    MaskedSlices,
    WeightedBCE,
    amp_dtype,
    balanced_weights,
    evaluate,
    param_groups,
    prevalence_pos_weight,
    train_one_epoch,
    warmup_cosine,
)
from training.masks import MASKS_DIR, build_mask_cache, mask_index
from training.metrics import choose_thresholds, summarize
from training.options import fit_parser as get_args_parser
from training.runlog import (  # noqa: F401 (setup_logging and args_to_plain are used by eval)
    args_to_plain,
    log_json,
    save_training_checkpoint,
    setup_logging,
)

logger = logging.getLogger("training")


def default_cache_dir() -> str:
    from ichviewer.paths import cache_dir

    return str(Path(cache_dir()) / "training")


def arch_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if args.arch == "densenet":
        for name in ("growth_rate", "block_config", "num_init_features"):
            v = getattr(args, name)
            if v is not None:
                kw[name] = list(v) if name == "block_config" else v
    if args.drop_rate:
        kw["drop_rate"] = args.drop_rate
    if getattr(args, "pool", "avg") != "avg":
        kw["pool"] = args.pool
    return kw


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


def predict(
    model: nn.Module,
    ds: CachedSlices,
    info: dist.DistInfo,
    args: argparse.Namespace,
    device: torch.device,
    spec: PreprocessSpec,
    autocast: torch.dtype | None,
    desc: str,
) -> np.ndarray:
    """Probabilities (n, 6) of every row of ``ds``, sharded over ranks and gathered."""
    sampler = dist.ShardSampler(len(ds), rank=info.rank, world_size=info.world_size, shuffle=False)
    loader = make_loader(ds, sampler, args.batch_size * 2, 0, device, False)
    idx, p = evaluate(
        model,
        loader,
        device,
        spec,
        autocast=autocast,
        channels_last=args.channels_last,
        progress=args.progress and info.is_main,
        desc=desc,
    )
    return dist.gather_rows(idx, p, len(ds))


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Train; returns the final validation summary (thresholds included)."""
    info, device = dist.init_distributed(args.device)
    out = Path(args.output_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    setup_logging(out, info.is_main)
    if args.threads:
        torch.set_num_threads(args.threads)
    cache_dir = args.cache_dir or default_cache_dir()
    spec = PreprocessSpec(size=args.size, mode=args.mode)

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
    if mask_weight > 0:
        train_ds, mask_weight = masked_train_set(args, splits["train"], caches["train"], cache_dir)
    val_ds = CachedSlices(caches["val"], splits["val"].labels) if "val" in caches else None

    torch.manual_seed(args.seed)
    model = build_model(args.arch, num_classes=6, imagenet=args.imagenet, **arch_kwargs(args))
    logger.info(
        "model %s %s, %.2fM parameters, init: %s",
        args.arch,
        arch_kwargs(args),
        sum(p.numel() for p in model.parameters()) / 1e6,
        "ImageNet" if model.imagenet_init else "random (from scratch)",
    )
    model.to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model_without_ddp = model
    if info.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        model_without_ddp = model.module

    pos_weight = prevalence_pos_weight(splits["train"].labels) if args.pos_weight else None
    criterion = WeightedBCE(pos_weight=pos_weight).to(device)
    weights = balanced_weights(splits["train"].labels, args.balanced) if args.balanced else None
    sampler = dist.ShardSampler(
        len(train_ds),
        rank=info.rank,
        world_size=info.world_size,
        shuffle=True,
        seed=args.seed,
        weights=weights,
    )
    loader = make_loader(train_ds, sampler, args.batch_size, args.workers, device, True)
    steps_per_epoch = min(len(loader), args.max_steps or len(loader))
    optimizer = torch.optim.AdamW(param_groups(model_without_ddp, args.weight_decay), lr=args.lr)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_cosine(args.epochs * steps_per_epoch, int(args.warmup_epochs * steps_per_epoch)),
    )
    autocast = amp_dtype(args.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast == torch.float16)
    aug = {"appearance": float(getattr(args, "appearance", 0.0) or 0.0)} if args.augment else None

    start_epoch = 0
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu", weights_only=True)
        model_without_ddp.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch = int(ckpt["epoch"]) + 1
        logger.info("resumed from %s at epoch %d", args.resume, start_epoch)

    logger.info(
        "training on %s x%d, autocast %s, %d steps/epoch, batch %d/rank",
        device,
        info.world_size,
        autocast,
        steps_per_epoch,
        args.batch_size,
    )
    val_summary: dict[str, Any] = {}
    end_epoch = (
        args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    )
    for epoch in range(start_epoch, end_epoch):
        sampler.set_epoch(epoch)
        torch.manual_seed(args.seed * 1000 + epoch)  # dropout: resumed runs repeat the same draws
        gen = torch.Generator().manual_seed(args.seed * 100003 + epoch * 101 + info.rank)
        stats = train_one_epoch(
            model,
            criterion,
            optimizer,
            lr_scheduler,
            loader,
            device,
            epoch,
            spec,
            scaler=scaler,
            autocast=autocast,
            aug=aug,
            gen=gen,
            channels_last=args.channels_last,
            max_steps=args.max_steps,
            clip_grad=args.clip_grad,
            progress=args.progress and info.is_main,
            mask_weight=mask_weight,
        )
        stats["loss"] = dist.all_reduce_mean([stats["loss"]], device)[0]
        dist.average_buffers(model_without_ddp)
        record: dict[str, Any] = {"event": "epoch", "epoch": epoch, "train": stats}
        if val_ds is not None:
            p = predict(model_without_ddp, val_ds, info, args, device, spec, autocast, "val")
            val_summary = summarize(splits["val"].labels, p)
            record["val"] = {
                "weighted_log_loss": val_summary["weighted_log_loss"],
                "mean_auc": val_summary["mean_auc"],
                "auc": {k: v["auc"] for k, v in val_summary["labels"].items()},
            }
        logger.info(
            "epoch %d: loss %.4f, %.1f img/s, lr %.2e%s",
            epoch,
            stats["loss"],
            stats["images_per_s"],
            stats["lr"],
            f", val wLL {record['val']['weighted_log_loss']:.4f} mean AUC "
            f"{record['val']['mean_auc'] or float('nan'):.4f}"
            if "val" in record
            else "",
        )
        if info.is_main:
            save_training_checkpoint(
                out / "checkpoint.pth",
                model_without_ddp,
                optimizer,
                lr_scheduler,
                scaler,
                epoch,
                args,
            )
            log_json(out, record)
        dist.barrier()

    thresholds: dict[str, float] = {}
    if val_ds is not None:
        # thresholds from float32 outputs: the viewer runs the model without autocast
        p = predict(model_without_ddp, val_ds, info, args, device, spec, None, "val")
        thresholds = choose_thresholds(splits["val"].labels, p)
        val_summary = summarize(splits["val"].labels, p, thresholds)
        val_summary["thresholds"] = thresholds
    digests = dist.all_gather_str(dist.weights_digest(model_without_ddp))
    if len(set(digests)) > 1:
        logger.error("ranks ended with different weights: %s", digests)
    if info.is_main:
        ckpt_path = out / "checkpoint.pth"
        if ckpt_path.is_file():
            state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            state["thresholds"] = thresholds
            state["splits"] = {k: v.summary() for k, v in splits.items()}
            state["val_metrics"] = json.loads(json.dumps(val_summary))
            torch.save(state, ckpt_path)
        (out / "val_metrics.json").write_text(json.dumps(val_summary, indent=2))
        log_json(
            out,
            {
                "event": "done",
                "thresholds": thresholds,
                "rank_weight_sha256": digests,
                "splits": {k: v.summary() for k, v in splits.items()},
            },
        )
    dist.barrier()
    dist.cleanup()
    return val_summary


def run(argv: list[str] | None = None) -> dict[str, Any]:
    return main(get_args_parser().parse_args(argv))


if __name__ == "__main__":
    t = time.time()
    run()
    logger.info("done in %.0f s", time.time() - t)
