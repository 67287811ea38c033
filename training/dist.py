"""Distributed training plumbing: torchrun's environment -> a process group, and helpers.

``torchrun --nproc_per_node=N -m training fit ...`` sets RANK / WORLD_SIZE / LOCAL_RANK
(and MASTER_ADDR / MASTER_PORT); a plain ``python -m training fit`` runs as a single process.
Multi-node runs use torchrun's usual flags (``--nnodes``, ``--node_rank``,
``--rdzv_endpoint``); nothing here is node-specific.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as tdist
from torch.utils.data import Sampler

logger = logging.getLogger("training")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun described (NCCL on GPUs, gloo on CPU) and pick the
    device: ``cuda:LOCAL_RANK`` when CUDA is used, else CPU."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but CUDA is not available")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        dev = torch.device("cuda" if use_cuda else "cpu")
        return DistInfo(), dev
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    backend = "nccl" if use_cuda else "gloo"
    if world > 1 and not tdist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend, "rank": rank, "world_size": world}
        if use_cuda:
            kwargs["device_id"] = dev
        tdist.init_process_group(**kwargs)
        tdist.barrier()
    info = DistInfo(rank, world, local, backend if world > 1 else "")
    if world > 1:
        logger.info("rank %d of %d (local %d) on %s with %s", rank, world, local, dev, backend)
    return info, dev


def cleanup() -> None:
    """Leave the process group (a no-op for single-process runs)."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


def barrier() -> None:
    if tdist.is_available() and tdist.is_initialized():
        tdist.barrier()


def all_reduce_mean(values: Sequence[float], device: torch.device) -> list[float]:
    """Mean of each value over all ranks (plain values when not distributed)."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    tdist.all_reduce(t)
    return (t / tdist.get_world_size()).tolist()


def average_buffers(model: torch.nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks.

    DDP keeps parameters in sync but each rank updates its running statistics from its own
    shard; averaging them at the end of an epoch makes every rank hold the same model and
    the saved statistics describe all of the data, not rank 0's share.
    """
    if not (tdist.is_available() and tdist.is_initialized()):
        return
    world = tdist.get_world_size()
    with torch.no_grad():
        for buf in model.buffers():
            if buf.is_floating_point():
                tdist.all_reduce(buf)
                buf /= world


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer, bit for bit (to check ranks stayed in sync)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def all_gather_str(value: str) -> list[str]:
    """``value`` from every rank, in rank order (a one-item list when not distributed)."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return [value]
    out: list[Any] = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, value)
    return [str(v) for v in out]


def gather_rows(index: np.ndarray, rows: np.ndarray, n_total: int) -> np.ndarray:
    """Reassemble per-rank predictions: ``rows[i]`` belongs to dataset row ``index[i]``.

    Every rank gets the full (n_total, ...) array; rows seen twice (padding) agree.
    """
    out = np.zeros((n_total, *rows.shape[1:]), dtype=rows.dtype)
    if tdist.is_available() and tdist.is_initialized():
        parts: list[Any] = [None] * tdist.get_world_size()
        tdist.all_gather_object(parts, (index, rows))
    else:
        parts = [(index, rows)]
    seen = np.zeros(n_total, dtype=bool)
    for idx, r in parts:
        out[idx] = r
        seen[idx] = True
    if not seen.all():
        raise RuntimeError(f"{int((~seen).sum())} of {n_total} rows were not evaluated")
    return out


class ShardSampler(Sampler[int]):
    """Indices for one rank, reshuffled every epoch from ``seed + epoch`` (like
    DistributedSampler) and optionally drawn with replacement by ``weights`` (balanced
    sampling that still shards across ranks). Call :meth:`set_epoch` each epoch.

    Without weights and with ``shuffle=False`` it pads nothing: evaluation sees each row once.
    """

    def __init__(
        self,
        n: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        weights: np.ndarray | None = None,
        drop_last: bool = False,
    ) -> None:
        self.n = n
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.seed = seed
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.drop_last = drop_last
        self.epoch = 0
        per_rank = n / world_size
        if shuffle or self.weights is not None:
            self.num_samples = math.floor(per_rank) if drop_last else math.ceil(per_rank)
        else:
            self.num_samples = len(range(rank, n, world_size))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.weights is not None:
            p = self.weights / self.weights.sum()
            return rng.choice(self.n, size=self.num_samples * self.world_size, p=p)
        if self.shuffle:
            return rng.permutation(self.n)
        return np.arange(self.n)

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        if self.shuffle or self.weights is not None:
            total = self.num_samples * self.world_size
            if len(order) < total:  # pad by wrapping, as DistributedSampler does
                order = np.resize(order, total)
            order = order[:total]
        return iter(order[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return self.num_samples
