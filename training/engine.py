"""The pieces of one training step: datasets, loss, schedule, the epoch loops (batch
preparation and augmentation are in training.augment).

Shaped after torchvision's references/classification: ``train_one_epoch`` and ``evaluate``
(under ``torch.inference_mode()``). Batches arrive as uint8 from the preprocessing cache and
are normalised (and augmented) on the device, so the data loader only copies bytes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ichviewer.ai.preprocess import PreprocessSpec, preprocess_array
from ichviewer.core.labels import LABELS, RSNA_LOSS_WEIGHTS
from ichviewer.errors import DicomReadError
from ichviewer.io import SliceRef, decode_hu
from ichviewer.io.pixels import AIR_HU
from training.augment import prepare_batch, prepare_masked_batch
from training.cache import CacheFile, normalize
from training.hardware import cpuinfo_line
from training.masks import MaskCache

logger = logging.getLogger("training")


# ----------------------------------------------------------------------------- datasets


class CachedSlices(Dataset):
    """Rows of a preprocessing cache: (uint8 (3, S, S), float32 labels (6,), row index)."""

    def __init__(self, cache: CacheFile, labels: np.ndarray) -> None:
        if len(labels) != cache.n:
            raise ValueError(f"{cache.n} cached slices but {len(labels)} label rows")
        self.cache = cache
        self.labels = np.asarray(labels, dtype=np.float32)
        self._arr: np.ndarray | None = None

    def __len__(self) -> int:
        return self.cache.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if self._arr is None:  # opened lazily so each loader worker maps its own view
            self._arr = self.cache.open()
        return torch.from_numpy(np.array(self._arr[i])), torch.from_numpy(self.labels[i]), i

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arr": None}


class MaskedSlices(CachedSlices):
    """CachedSlices with each row's lesion bitmask (uint8 (S, S)) and whether it has one."""

    def __init__(self, cache: CacheFile, labels: np.ndarray, masks: MaskCache) -> None:
        super().__init__(cache, labels)
        if len(masks.has) != cache.n:
            raise ValueError(f"{cache.n} cached slices but {len(masks.has)} mask rows")
        self.masks = masks
        self._marr: np.ndarray | None = None

    def __getitem__(self, i: int) -> tuple:  # type: ignore[override]
        x, y, i = super().__getitem__(i)
        if self._marr is None:
            self._marr = self.masks.open()
        m = torch.from_numpy(np.array(self._marr[i]))
        return x, y, i, m, bool(self.masks.has[i])

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_marr": None}


class DicomSlices(Dataset):
    """Decode + preprocess every slice on every access (no cache): float32 model input.

    The slow path, kept for the benchmark and for one-off evaluation of a folder.
    """

    def __init__(self, refs: Sequence[SliceRef], labels: np.ndarray, spec: PreprocessSpec) -> None:
        self.refs = list(refs)
        self.labels = np.asarray(labels, dtype=np.float32)
        self.spec = spec

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        ref = self.refs[i]
        try:
            hu = decode_hu(ref)
        except DicomReadError:
            hu = np.full((ref.rows, ref.columns), AIR_HU, dtype=np.float32)
        x = preprocess_array(hu, self.spec)
        return torch.from_numpy(x), torch.from_numpy(self.labels[i]), i


def to_input(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """A loader batch -> normalised float input (uint8 cache rows are normalised here)."""
    return normalize(x, spec) if x.dtype == torch.uint8 else x.float()


# ----------------------------------------------------------------------------- loss, schedule


class WeightedBCE(nn.Module):
    """The RSNA weighted multi-label log loss as a training loss ("any" x2), optionally
    with BCE ``pos_weight`` per label for rare subtypes."""

    def __init__(
        self, weights: Sequence[float] = RSNA_LOSS_WEIGHTS, pos_weight: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.float32)
        self.register_buffer("weights", w / w.sum())
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else None)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``keep``: optional (N, 6) 0/1 weights; a 0 leaves that label of that slice out of
        the loss (see :func:`faint_lesion_keep`)."""
        bce = F.binary_cross_entropy_with_logits(
            logits.float(), target.float(), reduction="none", pos_weight=self.pos_weight
        )
        if keep is not None:
            bce = bce * keep
        return (bce * self.weights).sum(1).mean()


def faint_lesion_keep(planes: torch.Tensor, min_px: int) -> torch.Tensor:
    """(N, 5, S, S) lesion planes after augmentation -> (N, 6) loss weights: 0 for a label
    whose blood covers between 1 and ``min_px - 1`` pixels of the input (and for 'any' when
    all the slice's blood does), 1 elsewhere.

    Such a slice is neither positive nor negative in training: a sliver of partial-volumed
    blood at the edge of a bleed is labelled by the generator, but teaching the network to
    call it makes a hair trigger for every bright speck of real CT (vessels, calcification,
    bone cut tangentially). Evaluation still counts those slices as positive."""
    on = planes > 0.5
    area = on.flatten(2).sum(-1)  # (N, 5)
    area_any = on.any(1).flatten(1).sum(-1, keepdim=True)  # (N, 1)
    area = torch.cat([area, area_any], dim=1)
    return ~((area > 0) & (area < min_px)) * 1.0


def cell_targets(planes: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(N, 5, S, S) lesion planes in [0, 1] -> (N, 6, h, w): 1 where a cell holds any pixel
    of the lesion (> 0.5 after augmentation's interpolation); the last channel is 'any'.
    Rows without a lesion pixel are all zero, so only the others are pooled."""
    on = planes > 0.5
    cells = torch.zeros((len(planes), planes.shape[1], *grid), device=planes.device)
    rows = torch.nonzero(on.flatten(1).any(1)).flatten()
    if len(rows):
        cells[rows] = F.adaptive_max_pool2d(on[rows].float(), grid)
    return torch.cat([cells, cells.amax(dim=1, keepdim=True)], dim=1)


class MaskLoss(nn.Module):
    """Mean per-cell BCE between label maps of logits and cell targets, over the rows that
    have a mask (zero when none has)."""

    def forward(self, maps: torch.Tensor, targets: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
        if maps.shape[1] != len(LABELS) or targets.shape != maps.shape:
            raise ValueError(f"maps {tuple(maps.shape)} and targets {tuple(targets.shape)} differ")
        bce = F.binary_cross_entropy_with_logits(maps.float(), targets, reduction="none")
        per_row = bce.mean(dim=(1, 2, 3))
        w = has.float()
        return (per_row * w).sum() / w.sum().clamp(min=1.0)


def prevalence_pos_weight(labels: np.ndarray, cap: float = 20.0) -> torch.Tensor:
    """n_neg / n_pos per label from the training labels, capped (rare labels would explode)."""
    y = np.asarray(labels, dtype=np.float64)
    pos = y.sum(0)
    neg = len(y) - pos
    return torch.tensor(np.clip(neg / np.maximum(pos, 1), 1.0, cap), dtype=torch.float32)


def balanced_weights(labels: np.ndarray, positive_fraction: float = 0.5) -> np.ndarray:
    """Per-slice sampling weights so a fraction ``positive_fraction`` of draws have any=1."""
    anyp = np.asarray(labels)[:, -1].astype(bool)
    n_pos, n_neg = int(anyp.sum()), int((~anyp).sum())
    if n_pos == 0 or n_neg == 0:
        return np.ones(len(anyp))
    return np.where(anyp, positive_fraction / n_pos, (1 - positive_fraction) / n_neg)


def warmup_cosine(total_steps: int, warmup_steps: int, min_ratio: float = 0.01):  # noqa: ANN201
    """LR multiplier: linear warmup from ~0, then cosine down to ``min_ratio``."""

    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on norms and biases (the usual AdamW recipe)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), where CPU autocast pays."""
    flags = cpuinfo_line("flags")
    return " avx512_bf16" in flags or " amx_bf16" in flags


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``auto`` is bf16 on CUDA (fp16 where bf16 is missing) and on CPUs
    with native bf16, else off."""
    if amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


# ----------------------------------------------------------------------------- loops


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler,
    loader: DataLoader,
    device: torch.device,
    epoch: int,
    spec: PreprocessSpec,
    *,
    scaler: torch.amp.GradScaler | None = None,
    autocast: torch.dtype | None = None,
    aug: dict[str, Any] | None = None,
    gen: torch.Generator | None = None,
    channels_last: bool = False,
    max_steps: int | None = None,
    clip_grad: float | None = None,
    progress: bool = False,
    mask_weight: float = 0.0,
    faint_px: int = 0,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss, images/s and the last learning rate.

    With ``mask_weight`` > 0 and a loader of :class:`MaskedSlices`, the loss adds
    ``mask_weight`` x :class:`MaskLoss` of the label maps. With ``faint_px`` > 0 (and masks),
    labels whose blood covers fewer input pixels are left out of both losses
    (:func:`faint_lesion_keep`)."""
    model.train()
    total, total_mask, n_seen, steps = 0.0, 0.0, 0, 0
    mask_loss = MaskLoss() if mask_weight > 0 else None
    t0 = time.perf_counter()
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(
            loader,
            desc=f"epoch {epoch}",
            leave=False,
            mininterval=2.0,
            total=min(len(loader), max_steps or len(loader)),
        )
    for batch in it:
        if max_steps is not None and steps >= max_steps:
            break
        x = batch[0].to(device, non_blocking=True)
        y = batch[1].to(device, non_blocking=True)
        with_masks = len(batch) == 5 and (mask_loss is not None or faint_px > 0)
        keep = None
        if with_masks:
            inp, planes = prepare_masked_batch(x, batch[3].to(device), spec, gen, aug)
            if faint_px > 0:
                keep = faint_lesion_keep(planes, faint_px)
        else:
            inp = prepare_batch(x, spec, gen, aug)
        if channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device.type, dtype=autocast or torch.float32, enabled=autocast is not None
        ):
            out = model(inp, maps=True) if mask_loss is not None and with_masks else model(inp)
        logits = out[0] if isinstance(out, tuple) else out
        loss = criterion(logits.float(), y) if keep is None else criterion(logits.float(), y, keep)
        if mask_loss is not None and with_masks:
            maps = out[1]
            has = batch[4].to(device)
            if keep is not None:  # a faint lesion's cells are not taught either
                has = has & (keep.amin(1) > 0)
            m_loss = mask_loss(maps, cell_targets(planes, maps.shape[-2:]), has)
            total_mask += m_loss.item() * len(x)
            loss = loss + mask_weight * m_loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch} step {steps}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            if clip_grad:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip_grad:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
        lr_scheduler.step()
        total += loss.item() * len(x)
        n_seen += len(x)
        steps += 1
        if progress:
            it.set_postfix(
                loss=f"{total / n_seen:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}"
            )
    dt = time.perf_counter() - t0
    stats = {
        "loss": total / max(n_seen, 1),
        "images": n_seen,
        "steps": steps,
        "images_per_s": n_seen / dt if dt > 0 else 0.0,
        "lr": float(optimizer.param_groups[0]["lr"]),
        "time_s": dt,
    }
    if mask_loss is not None:
        stats["mask_loss"] = total_mask / max(n_seen, 1)
    return stats


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    spec: PreprocessSpec,
    *,
    autocast: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
    desc: str = "eval",
    mirror: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, sigmoid probabilities (n, 6)) of this rank's share of ``loader``;
    ``mirror``: from mirror-averaged features, as a checkpoint with it is scored."""
    model.eval()
    idx: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc=desc, leave=False, mininterval=2.0)
    for x, _, i in it:
        inp = to_input(x.to(device, non_blocking=True), spec)
        if channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device.type, dtype=autocast or torch.float32, enabled=autocast is not None
        ):
            logits = model(inp, mirror=True) if mirror else model(inp)
        probs.append(torch.sigmoid(logits.float()).cpu().numpy())
        idx.append(np.asarray(i))
    if not probs:
        return np.zeros(0, np.int64), np.zeros((0, 6), np.float32)
    return np.concatenate(idx), np.concatenate(probs)
