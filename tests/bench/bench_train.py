"""Benchmark: training images/s from the preprocessing cache vs decoding DICOMs every step.

    python tests/bench/bench_train.py [--studies 6] [--synth-size 512] [--size 128]
                                      [--steps 30] [--batch 32] [--workers 2]

Writes a few synthetic studies (512 x 512 DICOM, like RSNA's) to a temp folder, then in the
same run and with the same model, batch size and loader workers times (a) training steps
fed from the uint8 memory-mapped cache (training.cache, built once beforehand; its build
time is printed separately) and (b) training steps whose loader decodes each DICOM with
ichviewer.io.decode_hu and preprocesses it with ichviewer.ai.preprocess on the fly. It also
times the data path alone (iterating the loader, no model). Prints images/s and the ratios
(target >= 3x for training). Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ichviewer.ai.network import build_model  # noqa: E402
from ichviewer.ai.preprocess import PreprocessSpec  # noqa: E402
from training.cache import build_cache  # noqa: E402
from training.data import load_labelled  # noqa: E402
from training.dist import ShardSampler  # noqa: E402
from training.engine import (  # noqa: E402
    CachedSlices,
    DicomSlices,
    WeightedBCE,
    amp_dtype,
    train_one_epoch,
    warmup_cosine,
)
from training.synthetic import synth  # noqa: E402


def loader(ds, batch: int, workers: int, seed: int = 0) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch,
        sampler=ShardSampler(len(ds), seed=seed),
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=True,
        prefetch_factor=4 if workers > 0 else None,
    )


def time_training(ds, args, spec: PreprocessSpec) -> float:
    """Images/s of ``args.steps`` training steps (after 3 warm-up steps)."""
    torch.manual_seed(0)
    model = build_model(
        "densenet", growth_rate=16, block_config=[4, 8, 16], num_init_features=32
    ).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(args.steps + 3, 1))
    dev = torch.device("cpu")
    dl = loader(ds, args.batch, args.workers)
    kw = dict(
        autocast=amp_dtype("auto", dev),
        aug={},
        gen=torch.Generator().manual_seed(0),
        channels_last=True,
    )
    train_one_epoch(model, WeightedBCE(), opt, sched, dl, dev, 0, spec, max_steps=3, **kw)
    stats = train_one_epoch(
        model, WeightedBCE(), opt, sched, dl, dev, 1, spec, max_steps=args.steps, **kw
    )
    return stats["images_per_s"]


def time_data(ds, args) -> float:
    """Images/s of the loader alone (no model)."""
    dl = loader(ds, args.batch, args.workers)
    it = iter(dl)
    next(it)  # start the workers
    t = time.perf_counter()
    n = 0
    for _ in range(min(args.steps, len(dl) - 1)):
        x, _, _ = next(it)
        n += len(x)
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--studies", type=int, default=6)
    p.add_argument("--synth-size", type=int, default=512)
    p.add_argument("--size", type=int, default=128, help="model input S")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="loader processes (both paths)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = PreprocessSpec(size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        synth(
            root / "data", args.studies, seed=77, layout="series", size=args.synth_size, workers=2
        )
        synth_s = time.perf_counter() - t
        data = load_labelled(root / "data", root / "cache")
        refs = [e.ref for e in data.entries]
        if len(refs) // args.batch < 5:
            raise SystemExit(
                f"bench_train: {len(refs)} slices make {len(refs) // args.batch} batches of "
                f"{args.batch}; timing needs at least 5 (raise --studies or lower --batch)"
            )
        t = time.perf_counter()
        cache = build_cache(refs, spec, root / "cache", workers=2)
        cache_s = time.perf_counter() - t
        cached = CachedSlices(cache, data.labels)
        dicom = DicomSlices(refs, data.labels, spec)
        data_cached, data_dicom = time_data(cached, args), time_data(dicom, args)
        train_cached, train_dicom = (
            time_training(cached, args, spec),
            time_training(dicom, args, spec),
        )
    result = {
        "slices": len(refs),
        "dicom_size": args.synth_size,
        "input_size": args.size,
        "batch": args.batch,
        "loader_workers": args.workers,
        "steps": args.steps,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "synth_s": round(synth_s, 1),
        "cache_build_s": round(cache_s, 2),
        "cache_build_slices_per_s": round(len(refs) / cache_s, 1),
        "data_only_images_per_s": {"cache": round(data_cached, 1), "dicom": round(data_dicom, 1)},
        "data_only_ratio": round(data_cached / data_dicom, 2),
        "train_images_per_s": {"cache": round(train_cached, 1), "dicom": round(train_dicom, 1)},
        "train_ratio": round(train_cached / train_dicom, 2),
    }
    print(json.dumps(result, indent=2))
    print(
        f"training: cache {train_cached:.1f} img/s vs DICOM-per-step {train_dicom:.1f} img/s "
        f"-> {train_cached / train_dicom:.2f}x (target >= 3x); data path alone "
        f"{data_cached / data_dicom:.1f}x"
    )


if __name__ == "__main__":
    main()
