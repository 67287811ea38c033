"""Benchmark: loading real compressed series, against a naive pydicom loop in the same run.

    python tests/bench/bench_io.py [--series cq500,j2k,rle,jls] [--rounds 3] [--slices 240]
                                   [--strategies] [--survey] [--keep DIR]

Series (each timed against the naive loop on the same files, rounds alternating, best kept):

* ``cq500``: ../shared/data/realct/cq500_ct0 as it is (238 real 0.625 mm slices, JPEG lossless
  process 14 SV1).
* ``j2k`` / ``rle`` / ``jls``: the same real pixel data re-encoded as ``--slices`` slices of
  JPEG 2000 lossless / RLE lossless / JPEG-LS lossless (written once per run to a temp
  folder, or kept in ``--keep DIR``), shuffled file names.
* ``synthetic``: the old uncompressed noise series (tests the uncompressed fast path only).

Naive: ``dcmread + pixel_array + apply_modality_lut`` per file, then sort by
ImagePositionPatient. ichviewer: ``scan`` + ``SeriesReader.load_all`` with the slice on screen
(the middle one) first, the decoder pool already started (the app's steady state; the cold
start is reported apart). Same HU: ichviewer's volume equals the naive one with padding below
air clamped to air (DESIGN contract 1: ``to_hu`` clamps at AIR_HU, pydicom does not).

Also reported: time to the slice on screen (series chosen -> first slice decoded), warm and
with a cold pool; CPU seconds of each side (parent + decoder processes) and ``work_ratio``,
the naive loop's CPU seconds per CPU second of ours (how much less work we do, whatever the
host lends: the wall ratio can exceed it only by using cores the naive loop leaves idle;
gdcm's JPEG 2000 decoder already runs on two threads); the load average. ``--strategies`` also times
threads and serial decoding per series; ``--survey`` times every pydicom decoding plugin per
syntax, and imagecodecs (which ichviewer uses where it matches pydicom). Not a test: nothing
asserts. Prints a table and one JSON line per series.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, pixel_array
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from ichviewer.core.constants import AIR_HU  # noqa: E402
from ichviewer.core.rules import outward_order  # noqa: E402
from ichviewer.io import SeriesReader, decode_pool, scan  # noqa: E402

REALCT = Path(os.environ.get("ICHVIEWER_REALCT", ROOT.parent / "shared" / "data" / "realct"))
SYNTAXES = {"j2k": JPEG2000Lossless, "rle": RLELossless, "jls": JPEGLSLossless}


# -- series ------------------------------------------------------------------------------------
def write_reencoded(src: Path, folder: Path, syntax: str, n: int) -> Path:
    """``n`` slices of ``src``'s real pixel data (cycled), re-encoded in ``syntax``."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.dcm"))) == n:
        return folder  # kept from an earlier run (--keep)
    files = sorted(src.glob("*.dcm"))
    names = [f"IM{i:05d}.dcm" for i in range(n)]
    random.Random(0).shuffle(names)
    series_uid = generate_uid()
    for i in range(n):
        ds = pydicom.dcmread(files[i % len(files)])
        arr = ds.pixel_array
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = arr.tobytes()
        ds.compress(SYNTAXES[syntax], arr)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        x, y, _ = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, -0.625 * i]
        ds.save_as(folder / names[i], enforce_file_format=True)
    return folder


def write_synthetic(folder: Path, n: int, size: int = 512) -> Path:
    from tests.dicom_factory import ct_dataset

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    head = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (0.4 * size) ** 2
    for i in range(n):
        hu = np.where(head, 35 + rng.normal(0, 5, (size, size)), -1000.0)
        ct_dataset(hu, z=i * 1.0, instance=i + 1, signed=True).save_as(
            folder / f"IM{i:05d}", enforce_file_format=True
        )
    return folder


# -- the two sides -----------------------------------------------------------------------------
def naive(folder: Path) -> np.ndarray:
    items = []
    for p in folder.iterdir():
        ds = pydicom.dcmread(p)
        hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
        items.append((float(ds.ImagePositionPatient[2]), hu))
    items.sort(key=lambda t: t[0])
    return np.stack([h for _, h in items])


def ours(folder: Path, strategy: str = "auto") -> tuple[np.ndarray, float]:
    """Volume, and seconds from 'series chosen' to the slice on screen decoded."""
    (series,) = scan(folder).series
    t0 = time.perf_counter()
    reader = SeriesReader(series)
    first: list[float] = []

    def on_slice(_i: int, _done: int) -> None:
        if not first:
            first.append(time.perf_counter() - t0)

    reader.load_all(
        order=outward_order(series.n_slices // 2, series.n_slices),
        on_slice=on_slice,
        strategy=strategy,
    )
    if reader.errors:
        raise SystemExit(f"errors loading {folder}: {reader.errors[:3]}")
    return reader.volume, first[0]


# -- CPU accounting ------------------------------------------------------------------------------
def _worker_cpu_s() -> float:
    """CPU seconds used so far by the decoder processes (Linux /proc; 0 elsewhere)."""
    pool = decode_pool._pool
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in list(getattr(pool, "_processes", {}) or {}):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def timed(fn, *args):
    c0, w0 = time.process_time(), _worker_cpu_s()
    t0 = time.perf_counter()
    out = fn(*args)
    wall = time.perf_counter() - t0
    parent = time.process_time() - c0
    workers = _worker_cpu_s() - w0
    return out, wall, parent, workers


def bench_series(name: str, folder: Path, rounds: int, strategies: list[str]) -> dict:
    sides = ["naive"] + strategies
    best: dict[str, dict] = {}
    vols: dict[str, np.ndarray] = {}
    firsts: dict[str, list[float]] = {s: [] for s in strategies}
    load = [round(os.getloadavg()[0], 2)]
    for _ in range(rounds):
        for side in sides:
            if side == "naive":
                vol, wall, cpu, wcpu = timed(naive, folder)
            else:
                (vol, first), wall, cpu, wcpu = timed(ours, folder, side)
                firsts[side].append(first)
            vols[side] = vol
            rec = {"wall_s": wall, "parent_cpu_s": cpu, "worker_cpu_s": wcpu}
            if side not in best or wall < best[side]["wall_s"]:
                best[side] = rec
    load.append(round(os.getloadavg()[0], 2))
    ref = np.maximum(vols["naive"], np.float32(AIR_HU))
    out = {
        "bench": "io_load",
        "series": name,
        "slices": int(ref.shape[0]),
        "transfer_syntax": pydicom.dcmread(
            next(folder.iterdir()), stop_before_pixels=True
        ).file_meta.TransferSyntaxUID.name,
        "naive_s": round(best["naive"]["wall_s"], 3),
        "load_avg": load,
        "cores": os.cpu_count(),
    }
    for s in strategies:
        b = best[s]
        cpu = b["parent_cpu_s"] + b["worker_cpu_s"]
        out[s] = {
            "s": round(b["wall_s"], 3),
            "ratio": round(best["naive"]["wall_s"] / b["wall_s"], 2),
            "same_hu": bool(np.array_equal(ref, vols[s])),
            "first_slice_s": round(min(firsts[s]), 4),
            "cpu_s": round(cpu, 3),
        }
    out["naive_cpu_s"] = round(best["naive"]["parent_cpu_s"], 3)
    for s in strategies:  # CPU seconds the naive loop spends per CPU second of ours
        out[s]["work_ratio"] = round(out["naive_cpu_s"] / max(out[s]["cpu_s"], 1e-9), 2)
    return out


def cold_first_slice(folder: Path) -> float:
    """Series chosen -> slice on screen, with no decoder process started yet."""
    decode_pool.reset()
    time.sleep(0.5)
    (_, first), *_ = timed(ours, folder, "auto")
    return first


def survey(folders: dict[str, Path], n: int = 12) -> None:
    """ms per slice of every decoding plugin, alone and as 2 threads (does it release the GIL?)."""
    print("\ndecoder survey (ms/slice; '2 thr' = throughput of two threads)")
    for name, folder in folders.items():
        files = sorted(folder.glob("*.dcm"))[:n] or sorted(folder.iterdir())[:n]
        for plugin in ("gdcm", "pylibjpeg", "pyjpegls", "pydicom", "pillow"):
            try:
                t = time.perf_counter()
                for f in files:
                    pixel_array(str(f), decoding_plugin=plugin)
                one = (time.perf_counter() - t) / len(files)
            except Exception as exc:  # a plugin that does not do this syntax
                if "No plugin named" not in str(exc) and "Unable to decompress" not in str(exc):
                    print(f"  {name:8s} {plugin:10s} n/a ({str(exc)[:50]})")
                continue

            def work(files=files, plugin=plugin) -> None:
                for f in files:
                    pixel_array(str(f), decoding_plugin=plugin)

            t = time.perf_counter()
            threads = [threading.Thread(target=work) for _ in range(2)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            two = (time.perf_counter() - t) / (2 * len(files))
            print(f"  {name:8s} {plugin:10s} {one * 1e3:7.2f}   2 thr {two * 1e3:7.2f}")
        survey_imagecodecs(name, files)


def survey_imagecodecs(name: str, files: list[Path]) -> None:
    """ms per slice of imagecodecs on the same files (what ichviewer.io.fast_codecs uses)."""
    from pydicom.encaps import get_frame

    from ichviewer.io import fast_codecs

    ts = str(pydicom.dcmread(files[0], stop_before_pixels=True).file_meta.TransferSyntaxUID)
    if not fast_codecs.available(ts):
        return
    codec = fast_codecs._codec(fast_codecs.CODEC_BY_SYNTAX[ts])
    t = time.perf_counter()
    for f in files:
        ds = pydicom.dcmread(f)
        codec(get_frame(ds.PixelData, 0, number_of_frames=1))
    one = (time.perf_counter() - t) / len(files)
    print(f"  {name:8s} {'imagecodecs':10s} {one * 1e3:7.2f}   (dcmread + decode)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", default="cq500,j2k,rle,jls")
    ap.add_argument("--slices", type=int, default=240, help="slices of the re-encoded series")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--strategies", action="store_true", help="also time threads and serial")
    ap.add_argument("--survey", action="store_true", help="time each decoding plugin")
    ap.add_argument("--keep", default=None, help="folder to keep re-encoded series in")
    args = ap.parse_args()
    cq500 = REALCT / "cq500_ct0"
    if not cq500.is_dir():
        raise SystemExit(f"{cq500} not found (set ICHVIEWER_REALCT)")
    strategies = ["auto", "processes", "threads", "serial"] if args.strategies else ["auto"]
    decode_pool.warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        folders: dict[str, Path] = {}
        for name in args.series.split(","):
            if name == "cq500":
                folders[name] = cq500
            elif name == "synthetic":
                folders[name] = write_synthetic(base / f"synthetic{args.slices}", args.slices)
            else:
                folders[name] = write_reencoded(
                    cq500, base / f"{name}{args.slices}", name, args.slices
                )
        time.sleep(1.0)  # let the warmed-up workers finish importing
        print(
            f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"load avg {os.getloadavg()[0]:.2f}"
        )
        results = []
        for name, folder in folders.items():
            res = bench_series(name, folder, args.rounds, strategies)
            res["first_slice_cold_pool_s"] = round(cold_first_slice(folder), 4)
            results.append(res)
            line = f"{name:9s} {res['slices']:4d} sl  naive {res['naive_s']:6.3f} s"
            for s in strategies:
                r = res[s]
                line += (
                    f" | {s} {r['s']:6.3f} s {r['ratio']:4.2f}x (work {r['work_ratio']:4.2f}x)"
                    f" same HU {r['same_hu']}"
                )
            line += (
                f" | on screen {res['auto']['first_slice_s'] * 1e3:.0f} ms "
                f"(cold pool {res['first_slice_cold_pool_s'] * 1e3:.0f} ms)"
                f" | load {res['load_avg']}"
            )
            print(line, flush=True)
        if args.survey:
            survey(folders)
    for res in results:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
