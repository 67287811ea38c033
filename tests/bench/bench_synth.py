"""Benchmark: the build's costly loops, each against its previous form in the same run.

    python tests/bench/bench_synth.py [--studies 6] [--batches 20]

- The simulated acquisition (training.ctsim) of phantom slices: one rotation serving four
  views, four channels a warp (now), against rotating the image by every view's own angle,
  one channel a warp (before). Prints ms a slice, the ratio, and how far the reconstructed
  HU of the two differ.
- The phantom's cortex, cerebellum and tentorium computed on the box around the cavity,
  the cerebellum and the posterior fossa (now) against the whole plane (before), through
  generate_study. Prints s a study, the ratio, and whether the studies are the same bit
  for bit.
- The masked training batch (training.augment.prepare_masked_batch + engine.cell_targets)
  of the bundled recipe at 192 px: resampling and pooling only the rows with a lesion (now)
  against every row, the planes concatenated to the image (before). Prints ms a batch, the
  ratio, and whether the outputs are the same bit for bit.

The phantoms' per-study time (training.synthetic.generate_study at 192 px) is printed too,
for the build's arithmetic. One thread throughout. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ichviewer.ai.preprocess import PreprocessSpec, standardize  # noqa: E402
from training import ctsim  # noqa: E402
from training.augment import appearance, bits_to_planes, prepare_masked_batch, random_affine  # noqa: E402
from training.augment import warp as warp_planes  # noqa: E402
from training.engine import cell_targets  # noqa: E402
from training.synthetic import generate_study  # noqa: E402


def _project_before(img: np.ndarray, views: int) -> np.ndarray:
    n = img.shape[0]
    out = np.empty((views, n), np.float32)
    for k, m in enumerate(ctsim._rotations(n, views)):
        out[k] = cv2.warpAffine(img, m, (n, n), flags=cv2.INTER_LINEAR, borderValue=0).sum(0)
    return out


def _fbp_before(sino: np.ndarray, cutoff: float) -> np.ndarray:
    views, n = sino.shape
    _, _, filt = ctsim._setup(n, views, cutoff)
    q = np.fft.irfft(np.fft.rfft(sino, 2 * n, axis=1) * filt, 2 * n, axis=1)[:, :n]
    q = q.astype(np.float32)
    out = np.zeros((n, n), np.float32)
    for k, m in enumerate(ctsim._rotations(n, views)):
        smear = np.ascontiguousarray(np.broadcast_to(q[k], (n, n)))
        out += cv2.warpAffine(
            smear, cv2.invertAffineTransform(m), (n, n), flags=cv2.INTER_LINEAR, borderValue=0
        )
    return out * (math.pi / (2 * views))


def _acquire(hu: np.ndarray, acq: ctsim.Acquisition, before: bool) -> np.ndarray:
    saved = ctsim.project_pair, ctsim.fbp
    if before:
        ctsim.project_pair = lambda a, b, v: np.stack(
            [_project_before(a, v), _project_before(b, v)]
        )
        ctsim.fbp = _fbp_before
    try:
        return ctsim.acquire(hu, 1.2, acq, np.random.default_rng(0))
    finally:
        ctsim.project_pair, ctsim.fbp = saved


def bench_acquire(studies: int) -> None:
    slices = [s for i in range(studies) for s in generate_study(4000, i, size=192).hu[::6]]
    acq = ctsim.Acquisition(dose=8e5, bone_residual=0.5, cutoff=0.85)
    hu = [np.maximum(s.astype(np.float32), -1000.0) for s in slices]
    times, recs = {}, {}
    for before in (True, False, True, False):
        t = time.perf_counter()
        recs[before] = [_acquire(h, acq, before) for h in hu]
        times.setdefault(before, []).append((time.perf_counter() - t) / len(hu))
    b, a = min(times[True]), min(times[False])
    inside = [h > -900 for h in hu]
    diff = max(
        float(np.abs(x - y)[m].max())
        for x, y, m in zip(recs[True], recs[False], inside, strict=True)
    )
    print(f"acquisition of {len(hu)} phantom slices at 192 px, 240 views:")
    print(f"  before {b * 1e3:.1f} ms a slice, now {a * 1e3:.1f} ms: {b / a:.2f}x")
    print(f"  max |delta| inside the head {diff:.4f} HU (the stored pixels are whole HU)")


def _batch_before(x, m, spec, gen, aug):
    planes = bits_to_planes(m)
    both = warp_planes(torch.cat([x.float() / 255.0, planes], 1), random_affine(len(x), gen, **aug))
    img = appearance(both[:, :3], gen, spec, 1.0)
    on = both[:, 3:] > 0.5
    cells = F.adaptive_max_pool2d(on.float(), (12, 12))
    return standardize(img, spec), both[:, 3:], torch.cat([cells, cells.amax(1, keepdim=True)], 1)


def _batch_now(x, m, spec, gen, aug):
    inp, planes = prepare_masked_batch(x, m, spec, gen, {**aug, "appearance": 1.0})
    return inp, planes, cell_targets(planes, (12, 12))


def bench_batches(batches: int) -> None:
    spec = PreprocessSpec(size=192, mode="linear")
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(batches):  # about a fifth of the rows hold blood, as in the bundled set
        x = torch.randint(0, 255, (32, 3, 192, 192), dtype=torch.uint8, generator=g)
        m = torch.zeros(32, 192, 192, dtype=torch.uint8)
        for r in torch.randperm(32, generator=g)[:6]:
            m[r, 60:110, 40:90] = 1 << int(torch.randint(0, 5, (1,), generator=g))
        data.append((x, m))
    aug = {"rotate_deg": 10.0, "scale": 0.1, "shift": 0.06, "flip": True}
    times, outs = {}, {}
    for f in (_batch_before, _batch_now, _batch_before, _batch_now):
        gen = torch.Generator().manual_seed(1)
        t = time.perf_counter()
        outs[f] = [f(x, m, spec, gen, aug) for x, m in data]
        times.setdefault(f, []).append((time.perf_counter() - t) / batches)
    same = all(
        all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
        for a, b in zip(outs[_batch_before], outs[_batch_now], strict=True)
    )
    b, a = min(times[_batch_before]), min(times[_batch_now])
    print(f"masked training batch (32 x 192 px, 6 rows with blood), {batches} batches:")
    print(
        f"  before {b * 1e3:.1f} ms, now {a * 1e3:.1f} ms: {b / a:.2f}x; same bit for bit: {same}"
    )


def _whole_plane(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice] | None:
    """The phantom's pixel_box as it was in effect before: the whole plane (the cerebellum
    was skipped on a plane without one; so is the cortex here, a few planes a study)."""
    return (slice(None), slice(None)) if mask.any() else None


def _always_whole(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice]:
    """The tentorium's before: the whole plane, every plane."""
    return (slice(None), slice(None))


def bench_planes(studies: int) -> None:
    """The phantom's cortex, cerebellum and tentorium computed on their boxes (now) against
    the whole plane (before), through generate_study."""
    from training import phantom, tentorium

    times, digests = {}, {}
    for before in (True, False):
        saved = phantom.pixel_box, tentorium.pixel_box
        if before:
            phantom.pixel_box, tentorium.pixel_box = _whole_plane, _always_whole
        try:
            t = time.perf_counter()
            out = [generate_study(2000, i, size=192) for i in range(studies)]
            times[before] = (time.perf_counter() - t) / studies
        finally:
            phantom.pixel_box, tentorium.pixel_box = saved
        digests[before] = [s.hu.tobytes() + s.masks.tobytes() for s in out]
    b, a = times[True], times[False]
    same = "same bit for bit" if digests[True] == digests[False] else "OUTPUTS DIFFER"
    print(f"phantom planes on their boxes, {studies} studies at 192 px:")
    print(f"  before {b:.2f} s a study, now {a:.2f} s: {b / a:.2f}x ({same})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=int, default=6)
    p.add_argument("--batches", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f"{platform.processor() or platform.machine()}, 1 thread")
    t = time.perf_counter()
    for i in range(a.studies):
        generate_study(1000, i, size=192)
    print(f"generate_study at 192 px: {(time.perf_counter() - t) / a.studies:.2f} s a study")
    bench_planes(a.studies)
    bench_acquire(max(1, a.studies // 2))
    bench_batches(a.batches)


if __name__ == "__main__":
    main()
