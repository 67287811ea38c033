"""The run folder: logging to console + log.txt, JSON lines, the resumable checkpoint.pth."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ichviewer.ai.preprocess import PreprocessSpec


def args_to_plain(args: argparse.Namespace) -> dict[str, Any]:
    """argparse values as plain types (the checkpoint is read with weights_only=True);
    anything else a caller hung on the namespace (functions, parsers) is left out."""
    out: dict[str, Any] = {}
    for k, v in vars(args).items():
        if isinstance(v, Path):
            v = str(v)
        elif isinstance(v, (list, tuple)):
            if not all(isinstance(x, (str, int, float, bool)) or x is None for x in v):
                continue
            v = list(v)
        elif not (isinstance(v, (str, int, float, bool)) or v is None):
            continue
        out[k] = v
    return out


def setup_logging(output_dir: Path | None, is_main: bool) -> None:
    """Console (rank 0 only, warnings elsewhere) and ``log.txt`` in the run folder, for the
    "training" and "ichviewer" loggers (which then stop propagating, so `python -m
    training`'s root handler does not print every line twice)."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    for name in ("training", "ichviewer"):
        log = logging.getLogger(name)
        log.setLevel(logging.INFO if is_main else logging.WARNING)
        log.propagate = False
        if not any(getattr(h, "_training", False) for h in log.handlers):
            h = logging.StreamHandler(sys.stderr)
            h.setFormatter(fmt)
            h._training = True  # type: ignore[attr-defined]
            log.addHandler(h)
        files = [h for h in log.handlers if isinstance(h, logging.FileHandler)]
        if output_dir is not None and is_main:
            target = str((output_dir / "log.txt").resolve())
            for h in files:
                if h.baseFilename != target:
                    log.removeHandler(h)
                    h.close()
            if not any(h.baseFilename == target for h in files):
                fh = logging.FileHandler(target)
                fh.setFormatter(fmt)
                fh._training = True  # type: ignore[attr-defined]
                log.addHandler(fh)


def log_json(output_dir: Path, record: dict[str, Any]) -> None:
    with open(output_dir / "log.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")


def save_training_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    lr_scheduler: Any,
    scaler: torch.amp.GradScaler,
    epoch: int,
    args: argparse.Namespace,
) -> None:
    """The resumable state as plain state dicts (loadable with weights_only=True)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": lr_scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": epoch,
        "args": args_to_plain(args),
        "arch": getattr(model, "arch", args.arch),
        "arch_kwargs": getattr(model, "arch_kwargs", {}),
        "imagenet_init": bool(getattr(model, "imagenet_init", False)),
        "preprocess": PreprocessSpec(size=args.size, mode=args.mode).to_dict(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
