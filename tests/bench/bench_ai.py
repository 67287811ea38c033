"""CPU benchmark of the AI engine (a script, not a test).

    python tests/bench/bench_ai.py [--slices N] [--size S] [--batch B] [--threads T]

Measures, in one process and on the same slices and weights:

* slices/s of the viewer's Predictor (channels_last; int8 features from PyTorch's x86
  quantisation, else bf16 autocast where the CPU has native bf16, whichever agreed with fp32
  at load; ``--precision`` forces one) against plain eager fp32 torchvision densenet121
  (NCHW, torch.no_grad), both including the same preprocess from 512 x 512 HU slices, both
  with the same thread count. Rounds alternate between the two and the best round of each
  is kept, so load from other processes hurts both alike (see ``load_avg`` in the output).
* agreement: max |p_predictor - p_fp32| over all slices.
* time from "study opened" to the first probability: scan a DICOM folder, pick the series,
  decode the slice on screen (the middle one) and score it through a ScoringJob, with the
  predictor already loaded (what the viewer does after a user opens a study).

Without ``--model`` it uses densenet121 with random weights whose norm statistics are
recalibrated on phantom slices (so probabilities are spread, not saturated, and agreement
means something). Prints a small table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

from ichviewer.ai.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from ichviewer.ai.jobs import ScoringJob  # noqa: E402
from ichviewer.ai.network import build_model  # noqa: E402
from ichviewer.ai.predictor import Predictor, default_threads, phantom_slices  # noqa: E402
from ichviewer.ai.preprocess import PreprocessSpec, preprocess_batch  # noqa: E402
from ichviewer.io import SeriesReader, scan  # noqa: E402
from tests.dicom_factory import ct_dataset  # noqa: E402


def make_checkpoint(folder: Path, size: int) -> Path:
    """densenet121, random weights, BN statistics recalibrated on phantom slices."""
    torch.manual_seed(0)
    spec = PreprocessSpec(size=size, mode="linear", mean=(0.2, 0.2, 0.1), std=(0.3, 0.3, 0.15))
    model = build_model("densenet121")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for seed in range(2):
            model(preprocess_batch(phantom_slices(4, 512, seed=seed), spec))
    model.eval()
    path = folder / "bench-densenet121.pt"
    save_checkpoint(path, model, spec, [0.5] * 6, {"name": "bench", "command": " ".join(sys.argv)})
    return path


def write_study(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, hu in enumerate(phantom_slices(n, 512, seed=1)):
        ds = ct_dataset(hu, z=5.0 * i, instance=i + 1, series_uid="1.2.3.9", signed=True)
        ds.save_as(folder / f"s{i:03d}.dcm", enforce_file_format=True)
    return folder


def time_to_first_probability(predictor: Predictor, folder: Path) -> float:
    t0 = time.perf_counter()
    series = scan([folder]).best_series()
    reader = SeriesReader(series)
    uids = [s.sop_instance_uid for s in series.slices]
    job = ScoringJob(predictor, reader, uids, order=series.n_slices // 2, cache=None)
    first: list[float] = []

    def on_result(_i: int, _res: object) -> None:
        first.append(time.perf_counter())
        job.cancel()

    job.run(on_result=on_result)
    return first[0] - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slices", type=int, default=32, help="slices scored per round (512x512 HU)")
    ap.add_argument("--size", type=int, default=256, help="model input size S (default 256)")
    ap.add_argument("--batch", type=int, default=8, help="batch size of both runs")
    ap.add_argument(
        "--threads", type=int, default=None, help="threads of both runs (default: cores-1)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept")
    ap.add_argument(
        "--model", default=None, help="a checkpoint (densenet121) instead of random weights"
    )
    ap.add_argument("--study-slices", type=int, default=32)
    ap.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "int8", "bf16", "fp32"),
        help="the predictor's precision (auto: int8, else bf16, whichever agrees first)",
    )
    args = ap.parse_args()

    threads = args.threads or default_threads()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt_path = Path(args.model) if args.model else make_checkpoint(tmp, args.size)
        t = time.perf_counter()
        predictor = Predictor(
            load_checkpoint(ckpt_path),
            device="cpu",
            batch_size=args.batch,
            threads=threads,
            precision=args.precision,
        )
        load_s = time.perf_counter() - t
        spec = predictor.spec
        baseline = torchvision.models.densenet121(weights=None, num_classes=6)
        baseline.load_state_dict(load_checkpoint(ckpt_path).model.net.state_dict())
        baseline.eval()
        torch.set_num_threads(threads)

        slices = phantom_slices(args.slices, 512, seed=2)

        def run_baseline() -> np.ndarray:
            out = []
            with torch.no_grad():
                for k in range(0, len(slices), args.batch):
                    x = preprocess_batch(slices[k : k + args.batch], spec)
                    out.append(torch.sigmoid(baseline(x)).numpy())
            return np.concatenate(out)

        def run_predictor() -> np.ndarray:
            return np.stack([r.probabilities for r in predictor.predict(slices)])

        run_baseline(), run_predictor()  # warm-up (allocator, oneDNN primitive caches)
        names = ("fp32 eager torchvision", "predictor")
        times: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        probs: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name, fn in zip(names, (run_baseline, run_predictor), strict=True):
                t, c = time.perf_counter(), time.process_time()
                probs[name] = fn()
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
        p_base, p_pred = probs[names[0]], probs[names[1]]
        delta = float(np.abs(p_pred - p_base).max())
        study = write_study(tmp / "study", args.study_slices)
        first = [time_to_first_probability(predictor, study) for _ in range(3)]

    rate = {k: args.slices / min(v) for k, v in times.items()}
    ratio = rate["predictor"] / rate["fp32 eager torchvision"]
    # CPU seconds are less disturbed by other processes than wall time (same thread count).
    cpu_ratio = min(cpu["fp32 eager torchvision"]) / min(cpu["predictor"])
    result = {
        "size": spec.size,
        "slices": args.slices,
        "batch": args.batch,
        "threads": threads,
        "precision": predictor.precision,
        "load_check_delta": predictor.agreement_delta,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "fp32_slices_per_s": round(rate["fp32 eager torchvision"], 2),
        "predictor_slices_per_s": round(rate["predictor"], 2),
        "speedup": round(ratio, 2),
        "speedup_cpu_time": round(cpu_ratio, 2),
        "round_times_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "round_cpu_s": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
        "max_abs_delta_p": round(delta, 5),
        "first_probability_s": round(min(first), 3),
        "first_probability_median_s": round(statistics.median(first), 3),
        "predictor_load_s": round(load_s, 2),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
    }
    print(f"{'':34s}{'slices/s':>10s}")
    print(f"{'fp32 eager torchvision':34s}{rate['fp32 eager torchvision']:10.2f}")
    print(
        f"{'predictor (' + predictor.precision + ', channels_last)':34s}{rate['predictor']:10.2f}"
    )
    print(f"{'speedup (wall / CPU time)':34s}{ratio:10.2f}x / {cpu_ratio:.2f}x")
    print(f"{'max |delta p|':34s}{delta:10.5f}")
    print(
        f"{'study opened -> 1st probability':34s}{min(first):9.3f}s (median {statistics.median(first):.3f}s)"
    )
    print(
        f"input {spec.size}x{spec.size}, {threads} thread(s), batch {args.batch}, "
        f"load avg {load_before:.2f} -> {os.getloadavg()[0]:.2f} (other processes share the CPU)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
