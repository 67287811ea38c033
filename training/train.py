"""``python -m training fit``: train a hemorrhage classifier, resumably, on one or many GPUs.

Shaped after torchvision's references/classification/train.py: :func:`get_args_parser`,
:func:`main`. Every epoch writes ``checkpoint.pth`` (model, optimizer, lr_scheduler, scaler,
epoch, args) to ``--output-dir`` and a JSON line to ``log.jsonl``; at the end the per-label
operating thresholds are chosen on the validation split and stored in the checkpoint, which
``python -m training export`` turns into the viewer's checkpoint. The data side (patient
splits, preprocessing caches, loaders) is training.fit_data.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ichviewer.ai.network import build_model
from ichviewer.ai.preprocess import PreprocessSpec
from ichviewer.core.heap import keep_freed_memory
from training import dist, hardware
from training.data import SplitData
from training.engine import (
    CachedSlices,
    WeightedBCE,
    amp_dtype,
    balanced_weights,
    evaluate,
    param_groups,
    prevalence_pos_weight,
    train_one_epoch,
    warmup_cosine,
)
from training.fit_data import FitData, build_data, make_loader
from training.masks import counted_positives
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


@dataclass
class Optimisation:
    """What trains the model beyond the model itself."""

    criterion: nn.Module
    sampler: dist.ShardSampler
    loader: DataLoader
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    autocast: torch.dtype | None
    aug: dict[str, float] | None
    steps_per_epoch: int


def setup(args: argparse.Namespace) -> tuple[dist.DistInfo, torch.device, Path]:
    """Process group, output folder, logging and CPU threads."""
    info, device = dist.init_distributed(args.device)
    out = Path(args.output_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    setup_logging(out, info.is_main)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    return info, device, out


def make_model(
    args: argparse.Namespace, info: dist.DistInfo, device: torch.device
) -> tuple[nn.Module, nn.Module]:
    """(model, model_without_ddp): seeded, on the device, wrapped in DDP when distributed."""
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
    return model, model_without_ddp


def make_optimisation(
    args: argparse.Namespace,
    info: dist.DistInfo,
    device: torch.device,
    data: FitData,
    model_without_ddp: nn.Module,
) -> Optimisation:
    """Loss, sharded sampler and loader, AdamW with warmup + cosine, grad scaler, autocast."""
    labels = data.splits["train"].labels
    pos_weight = prevalence_pos_weight(labels) if args.pos_weight else None
    criterion = WeightedBCE(pos_weight=pos_weight).to(device)
    weights = balanced_weights(labels, args.balanced) if args.balanced else None
    sampler = dist.ShardSampler(
        len(data.train_ds),
        rank=info.rank,
        world_size=info.world_size,
        shuffle=True,
        seed=args.seed,
        weights=weights,
    )
    loader = make_loader(data.train_ds, sampler, args.batch_size, args.workers, device, True)
    steps_per_epoch = min(len(loader), args.max_steps or len(loader))
    optimizer = torch.optim.AdamW(param_groups(model_without_ddp, args.weight_decay), lr=args.lr)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_cosine(args.epochs * steps_per_epoch, int(args.warmup_epochs * steps_per_epoch)),
    )
    autocast = amp_dtype(args.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast == torch.float16)
    aug = {"appearance": float(getattr(args, "appearance", 0.0) or 0.0)} if args.augment else None
    return Optimisation(
        criterion, sampler, loader, optimizer, lr_scheduler, scaler, autocast, aug, steps_per_epoch
    )


def resume(args: argparse.Namespace, model_without_ddp: nn.Module, opt: Optimisation) -> int:
    """Load ``--resume`` (model, optimizer, scheduler, scaler); the epoch to start at."""
    if not args.resume:
        return 0
    ckpt = torch.load(args.resume, map_location="cpu", weights_only=True)
    model_without_ddp.load_state_dict(ckpt["model"])
    opt.optimizer.load_state_dict(ckpt["optimizer"])
    opt.lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
    if ckpt.get("scaler"):
        opt.scaler.load_state_dict(ckpt["scaler"])
    start_epoch = int(ckpt["epoch"]) + 1
    logger.info("resumed from %s at epoch %d", args.resume, start_epoch)
    return start_epoch


def run_epoch(
    epoch: int,
    args: argparse.Namespace,
    info: dist.DistInfo,
    device: torch.device,
    spec: PreprocessSpec,
    out: Path,
    data: FitData,
    model: nn.Module,
    model_without_ddp: nn.Module,
    opt: Optimisation,
) -> dict[str, Any]:
    """Train one epoch, validate, log and checkpoint (rank 0); the validation summary
    ({} without a validation split)."""
    opt.sampler.set_epoch(epoch)
    torch.manual_seed(args.seed * 1000 + epoch)  # dropout: resumed runs repeat the same draws
    gen = torch.Generator().manual_seed(args.seed * 100003 + epoch * 101 + info.rank)
    stats = train_one_epoch(
        model,
        opt.criterion,
        opt.optimizer,
        opt.lr_scheduler,
        opt.loader,
        device,
        epoch,
        spec,
        scaler=opt.scaler,
        autocast=opt.autocast,
        aug=opt.aug,
        gen=gen,
        channels_last=args.channels_last,
        max_steps=args.max_steps,
        clip_grad=args.clip_grad,
        progress=args.progress and info.is_main,
        mask_weight=data.mask_weight,
        faint_px=getattr(args, "faint_px", 0),
    )
    stats["loss"] = dist.all_reduce_mean([stats["loss"]], device)[0]
    dist.average_buffers(model_without_ddp)
    record: dict[str, Any] = {"event": "epoch", "epoch": epoch, "train": stats}
    val_summary: dict[str, Any] = {}
    last = epoch + 1 == args.epochs
    if data.val_ds is not None and (last or (epoch + 1) % getattr(args, "val_every", 1) == 0):
        p = predict(model_without_ddp, data.val_ds, info, args, device, spec, opt.autocast, "val")
        val_summary = summarize(data.splits["val"].labels, p)
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
            opt.optimizer,
            opt.lr_scheduler,
            opt.scaler,
            epoch,
            args,
        )
        if getattr(args, "keep_epochs", False):  # each epoch's weights, for ablations
            shutil.copyfile(out / "checkpoint.pth", out / f"epoch{epoch}.pth")
        log_json(out, record)
    dist.barrier()
    return val_summary


def final_thresholds(
    args: argparse.Namespace,
    info: dist.DistInfo,
    device: torch.device,
    spec: PreprocessSpec,
    data: FitData,
    model_without_ddp: nn.Module,
    val_summary: dict[str, Any],
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-label thresholds chosen on the validation split, and its summary at them (the
    last epoch's summary, and no thresholds, without a validation split or with
    ``--no-final-thresholds``)."""
    if data.val_ds is None or not getattr(args, "final_thresholds", True):
        return {}, val_summary
    # thresholds from float32 outputs: the viewer runs the model without autocast
    p = predict(model_without_ddp, data.val_ds, info, args, device, spec, None, "val")
    counted = counted_positives(args.data, [e.ref for e in data.splits["val"].entries])
    thresholds = choose_thresholds(data.splits["val"].labels, p, counted=counted)
    val_summary = summarize(data.splits["val"].labels, p, thresholds)
    val_summary["thresholds"] = thresholds
    return thresholds, val_summary


def write_results(
    out: Path,
    splits: dict[str, SplitData],
    thresholds: dict[str, float],
    val_summary: dict[str, Any],
    digests: list[str],
    trained_on: str,
) -> None:
    """Store thresholds, splits, validation metrics and what trained the network
    (``trained_on``, training.hardware) in the checkpoint and next to it; the 'done' log
    record (rank 0 only)."""
    ckpt_path = out / "checkpoint.pth"
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        state["thresholds"] = thresholds
        state["splits"] = {k: v.summary() for k, v in splits.items()}
        state["val_metrics"] = json.loads(json.dumps(val_summary))
        state["hardware"] = trained_on
        torch.save(state, ckpt_path)
    (out / "val_metrics.json").write_text(json.dumps(val_summary, indent=2))
    log_json(
        out,
        {
            "event": "done",
            "thresholds": thresholds,
            "rank_weight_sha256": digests,
            "hardware": trained_on,
            "splits": {k: v.summary() for k, v in splits.items()},
        },
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Train; returns the final validation summary (thresholds included)."""
    info, device, out = setup(args)
    cache_dir = args.cache_dir or default_cache_dir()
    spec = PreprocessSpec(size=args.size, mode=args.mode)
    data = build_data(args, info, spec, cache_dir)
    model, model_without_ddp = make_model(args, info, device)
    opt = make_optimisation(args, info, device, data, model_without_ddp)
    start_epoch = resume(args, model_without_ddp, opt)
    logger.info(
        "training on %s x%d, autocast %s, %d steps/epoch, batch %d/rank",
        device,
        info.world_size,
        opt.autocast,
        opt.steps_per_epoch,
        args.batch_size,
    )
    val_summary: dict[str, Any] = {}
    end_epoch = (
        args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    )
    for epoch in range(start_epoch, end_epoch):
        val_summary = run_epoch(
            epoch, args, info, device, spec, out, data, model, model_without_ddp, opt
        )
    thresholds, val_summary = final_thresholds(
        args, info, device, spec, data, model_without_ddp, val_summary
    )
    digests = dist.all_gather_str(dist.weights_digest(model_without_ddp))
    if len(set(digests)) > 1:
        logger.error("ranks ended with different weights: %s", digests)
    if info.is_main:
        trained_on = hardware.describe(device, info.world_size, opt.autocast)
        write_results(out, data.splits, thresholds, val_summary, digests, trained_on)
    dist.barrier()
    dist.cleanup()
    return val_summary


def run(argv: list[str] | None = None) -> dict[str, Any]:
    return main(get_args_parser().parse_args(argv))


if __name__ == "__main__":
    t = time.time()
    run()
    logger.info("done in %.0f s", time.time() - t)
