"""Benchmark: glibc's malloc as it comes against ichviewer.core.heap.keep_freed_memory.

    python tests/bench/bench_heap.py [--steps 30] [--batches 24] [--studies 4]

Each measurement runs in its own spawn process, once with glibc's defaults and once tuned,
in the same run (the tuning cannot be undone inside a process):

- evaluation: the bundled ensemble's forward pass (two members of the bundled DenseNet,
  mirror-averaged, float32, channels_last, every core), at eval's batch of 32 and at 64;
- training: steps of one member (bf16 autocast where the CPU has it, channels_last, the
  masked batch with the appearance augmentation, AdamW), one thread;
- the phantoms: training.synthetic.generate_study at 192 px, one thread.

Prints seconds, the ratio, and whether the outputs are the same bit for bit. Not a test:
nothing asserts.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ichviewer.ai.network import build_model, ensemble_of  # noqa: E402
from ichviewer.core.cpu import usable_cores  # noqa: E402
from ichviewer.core.heap import keep_freed_memory  # noqa: E402

ARCH = {"growth_rate": 16, "block_config": [4, 8, 16], "num_init_features": 32, "pool": "lse"}


def _digest(*arrays) -> str:  # noqa: ANN002
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()[:12]


def _evaluate(batches: int, batch: int) -> tuple[float, str]:
    torch.set_num_threads(usable_cores())
    torch.manual_seed(0)
    model = ensemble_of([build_model("densenet", **ARCH) for _ in range(2)]).eval()
    x = torch.rand(batch, 3, 192, 192).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x[:4], mirror=True)
        t = time.perf_counter()
        out = [model(x, mirror=True) for _ in range(batches)]
    return time.perf_counter() - t, _digest(*(o.numpy() for o in out))


def _train(steps: int) -> tuple[float, str]:
    from tests.bench.bench_members import _steps  # the members' benchmark's step

    t = _steps(0, steps, 32, 192, 1)
    return t, "-"


def _phantoms(studies: int) -> tuple[float, str]:
    import cv2

    from training.synthetic import generate_study

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    t = time.perf_counter()
    out = [generate_study(1000, i, size=192) for i in range(studies)]
    return time.perf_counter() - t, _digest(*(s.hu for s in out))


def _child(tuned: bool, what: str, n: int, batch: int) -> tuple[float, str]:
    if tuned and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() did not take effect (not glibc?)")
    if what == "eval":
        return _evaluate(n, batch)
    return _train(n) if what == "train" else _phantoms(n)


def _pair(what: str, n: int, batch: int = 32) -> None:
    ctx = mp.get_context("spawn")
    res = {}
    for tuned in (False, True):
        with ctx.Pool(1) as pool:
            res[tuned] = pool.apply(_child, (tuned, what, n, batch))
    (d, hd), (k, hk) = res[False], res[True]
    same = "-" if hd == "-" else ("same bit for bit" if hd == hk else "OUTPUTS DIFFER")
    size = f"{n} x {batch}" if what == "eval" else str(n)
    print(f"  {what:8s} {size:>7s}: defaults {d:6.1f} s, tuned {k:6.1f} s: {d / k:.2f}x ({same})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batches", type=int, default=24)
    ap.add_argument("--studies", type=int, default=4)
    a = ap.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {usable_cores()} cores, "
        f"torch {torch.__version__}; glibc malloc defaults vs keep_freed_memory():"
    )
    _pair("eval", a.batches, 32)
    _pair("eval", a.batches // 2, 64)
    _pair("train", a.steps)
    _pair("phantoms", a.studies)


if __name__ == "__main__":
    main()
