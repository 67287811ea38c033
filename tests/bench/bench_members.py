"""Benchmark: training an ensemble's members side by side vs one after another.

    python tests/bench/bench_members.py [--steps 40] [--batch 32] [--size 192]

``build-bundled`` trains its members (two by default) side by side on a CPU with a core
each: one process per member at ``cores // members`` torch threads. This times the bundled
recipe's training step (the bundled architecture, bf16 autocast where the CPU has it,
channels_last, the masked batch with the appearance augmentation, AdamW) on random uint8
batches, in the same run:

- sequential: two members one after the other, all cores each (the old way);
- side by side: two spawn processes at the same time, the cores shared out.

It also times the appearance augmentation against its previous form (a depthwise
``conv2d`` blur of every image), which was a fifth of a training step. Prints seconds and
ratios. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ichviewer.ai.network import build_model  # noqa: E402
from ichviewer.ai.preprocess import PreprocessSpec  # noqa: E402
from ichviewer.core.cpu import usable_cores  # noqa: E402
from training import augment  # noqa: E402
from training.engine import amp_dtype  # noqa: E402

ARCH = {"growth_rate": 16, "block_config": [4, 8, 16], "num_init_features": 32, "pool": "lse"}


def _steps(seed: int, steps: int, batch: int, size: int, threads: int) -> float:
    """Seconds for ``steps`` training steps of one member at ``threads`` torch threads."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build_model("densenet", **ARCH).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    spec = PreprocessSpec(size=size, mode="linear")
    gen = torch.Generator().manual_seed(seed)
    dtype = amp_dtype("auto", torch.device("cpu"))
    x = torch.randint(0, 255, (batch, 3, size, size), dtype=torch.uint8, generator=gen)
    m = torch.randint(0, 32, (batch, size, size), dtype=torch.uint8, generator=gen)
    y = (torch.rand(batch, 6, generator=gen) < 0.2).float()

    def step() -> None:
        inp, _ = augment.prepare_masked_batch(x, m, spec, gen, {"appearance": 1.0})
        inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            logits, maps = model(inp, maps=True)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y) + maps.float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t


def _conv_blur(hu: torch.Tensor) -> torch.Tensor:
    """The previous blur: depthwise conv2d, rows then columns."""
    k = torch.tensor(augment.BINOMIAL5)
    c = hu.shape[1]
    b = F.conv2d(
        F.pad(hu, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5).repeat(c, 1, 1, 1), groups=c
    )
    return F.conv2d(
        F.pad(b, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1).repeat(c, 1, 1, 1), groups=c
    )


def _blur_ms(batch: int, size: int, reps: int = 10) -> tuple[float, float, float]:
    """ms per batch: previous blur of every image, shifted sums of the half that get one;
    and their largest difference in HU."""
    hu = torch.rand(batch, 3, size, size) * 200 - 50
    half = hu[: batch // 2]
    out = []
    for f, arg in ((_conv_blur, hu), (augment.binomial_blur, half)):
        f(arg)
        t = time.perf_counter()
        for _ in range(reps):
            f(arg)
        out.append(1000 * (time.perf_counter() - t) / reps)
    diff = float((_conv_blur(hu) - augment.binomial_blur(hu)).abs().max())
    return out[0], out[1], diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=192)
    a = ap.parse_args()
    cores = usable_cores()
    print(f"{platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__}")
    conv_ms, shift_ms, diff = _blur_ms(a.batch, a.size)
    print(
        f"appearance blur: conv2d on every image {conv_ms:.1f} ms, shifted sums on the half "
        f"that get one {shift_ms:.1f} ms ({conv_ms / shift_ms:.2f}x; max |delta| {diff:.1e} HU)"
    )
    job = (a.steps, a.batch, a.size)
    seq = sum(_steps(seed, *job, cores) for seed in (0, 1))
    per = max(1, cores // 2)
    with mp.get_context("spawn").Pool(2) as pool:
        t = time.perf_counter()
        each = pool.starmap(_steps, [(seed, *job, per) for seed in (0, 1)])
        wall = time.perf_counter() - t
    side = max(each)  # the timed steps, as for the sequential pair
    print(
        f"two members x {a.steps} steps of {a.batch} at {a.size} px: one after another at "
        f"{cores} threads {seq:.1f} s, side by side at {per} thread(s) each {side:.1f} s "
        f"-> {seq / side:.2f}x ({wall:.1f} s with process start and warm-up)"
    )


if __name__ == "__main__":
    main()
