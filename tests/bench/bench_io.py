"""Benchmark: series load (header scan + full HU volume) against a naive pydicom loop.

    python tests/bench/bench_io.py [--slices 240] [--size 512] [--repeat 3]

Writes a synthetic 240-slice 512x512 series to a temp folder (shuffled file names), then, in
the same run, times (a) the naive loop: dcmread + pixel_array + apply_modality_lut per file,
then sort by ImagePositionPatient, and (b) ichviewer.io.scan + SeriesReader.load_all. Prints
a ratio (target >= 2x) and the absolute time (target < 3 s). Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ichviewer.io import SeriesReader, scan  # noqa: E402
from tests.dicom_factory import ct_dataset  # noqa: E402


def make_series(folder: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    head = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (0.4 * size) ** 2
    names = [f"IM{i:05d}" for i in range(n)]
    random.Random(0).shuffle(names)
    for i in range(n):
        hu = np.where(head, 35 + rng.normal(0, 5, (size, size)), -1000.0)
        ds = ct_dataset(hu, z=i * 1.0, instance=i + 1, signed=True)
        ds.save_as(folder / names[i], enforce_file_format=True)


def naive(folder: Path) -> np.ndarray:
    items = []
    for p in folder.iterdir():
        ds = pydicom.dcmread(p)
        hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
        items.append((float(ds.ImagePositionPatient[2]), hu))
    items.sort(key=lambda t: t[0])
    return np.stack([h for _, h in items])


def ours(folder: Path) -> np.ndarray:
    (series,) = scan(folder).series
    return SeriesReader(series).load_all()


def best_of(fn, folder: Path, repeat: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(folder)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=240)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_series(folder, args.slices, args.size)
        t_naive, v_naive = best_of(naive, folder, args.repeat)
        t_ours, v_ours = best_of(ours, folder, args.repeat)
    same = bool(np.array_equal(v_naive, v_ours))
    ratio = t_naive / t_ours
    print(
        f"series: {args.slices} slices {args.size}x{args.size}, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"naive dcmread+pixel_array+rescale: {t_naive:.3f} s")
    print(f"ichviewer scan+load_all:            {t_ours:.3f} s   (same HU: {same})")
    print(f"speed-up: {ratio:.2f}x  (target >= 2x; absolute target < 3 s)")
    print(
        json.dumps(
            {
                "bench": "io_load",
                "slices": args.slices,
                "naive_s": round(t_naive, 3),
                "ichviewer_s": round(t_ours, 3),
                "ratio": round(ratio, 2),
                "same_hu": same,
            }
        )
    )


if __name__ == "__main__":
    main()
