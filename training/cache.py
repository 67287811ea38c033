"""Preprocessing cache: each split's model inputs as one memory-mapped uint8 .npy.

Decoding a DICOM and windowing it costs far more than a training step on a small model, so
every slice is decoded (ichviewer.io.decode_hu) and windowed (ichviewer.ai.preprocess) once.
The three windowed channels in [0, 1] are quantised to uint8 *before* mean/std
normalisation, which :func:`normalize` applies on the fly on the device. Files are keyed by
the preprocess spec and the slice list, so a cache is reused across epochs and runs and
rebuilt when either changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from ichviewer.ai.preprocess import PreprocessSpec, preprocess_array
from ichviewer.errors import DicomReadError
from ichviewer.io import SliceRef, decode_hu
from ichviewer.io.pixels import AIR_HU

logger = logging.getLogger("training")

CACHE_VERSION = 1


def windowed_spec(spec: PreprocessSpec) -> PreprocessSpec:
    """The same spec without normalisation (mean 0, std 1): preprocess then returns the
    three windowed channels in [0, 1], which is what the cache stores."""
    return dataclasses.replace(spec, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def quantize(windowed: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8 (round to nearest; error at most 1/510)."""
    return np.clip(np.rint(windowed * 255.0), 0, 255).astype(np.uint8)


def encode_slice(hu: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """One HU slice -> (3, S, S) uint8 via ichviewer's preprocess (windowing lives there)."""
    return quantize(preprocess_array(hu, windowed_spec(spec)))


def normalize(x, spec: PreprocessSpec):  # noqa: ANN001, ANN201 - torch types, imported lazily
    """uint8 (N, 3, S, S) tensor -> float32 model input: x/255, then (x - mean) / std."""
    import torch

    mean = torch.tensor(spec.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def cache_key(refs: Sequence[SliceRef], spec: PreprocessSpec) -> str:
    """Hash of the spec and the ordered slice list (source, frame, SOP UID, size)."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    h.update(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for r in refs:
        h.update(f"{r.source}\0{r.frame}\0{r.sop_instance_uid}\0{r.rows}x{r.columns}\n".encode())
    return h.hexdigest()[:20]


@dataclasses.dataclass(frozen=True)
class CacheFile:
    """A built cache: ``path`` holds (N, 3, S, S) uint8; ``n_errors`` slices read as air."""

    path: Path
    key: str
    n: int
    size: int
    n_errors: int = 0

    def open(self) -> np.ndarray:
        """The array, memory-mapped read-only (cheap: call it in each data loader worker)."""
        return np.load(self.path, mmap_mode="r")


def _encode_ref(ref: SliceRef, spec: PreprocessSpec) -> tuple[np.ndarray, str | None]:
    try:
        hu = decode_hu(ref)
    except DicomReadError as exc:
        hu = np.full((ref.rows, ref.columns), AIR_HU, dtype=np.float32)
        return encode_slice(hu, spec), f"{exc.file}: {exc.reason}"
    return encode_slice(hu, spec), None


def build_cache(
    refs: Sequence[SliceRef],
    spec: PreprocessSpec,
    cache_dir: str | os.PathLike[str],
    *,
    name: str = "split",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CacheFile:
    """Build (or reuse) the cache of ``refs`` under ``cache_dir``.

    Written to a temporary file and renamed, with the JSON index written last, so an
    interrupted build is never mistaken for a complete one. Slices that fail to decode are
    stored as air and counted (logged once with the first reason).
    """
    key = cache_key(refs, spec)
    cache_dir = Path(cache_dir)
    npy = cache_dir / f"{name}-{spec.size}-{key}.npy"
    meta = npy.with_suffix(".json")
    if npy.is_file() and meta.is_file():
        try:
            doc = json.loads(meta.read_text())
            if doc.get("key") == key and doc.get("n") == len(refs):
                logger.info("reusing preprocessing cache %s (%d slices)", npy.name, len(refs))
                return CacheFile(npy, key, len(refs), spec.size, int(doc.get("n_errors", 0)))
        except ValueError:
            pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(npy.stem + f".tmp{os.getpid()}.npy")
    s = spec.size
    arr = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(refs), 3, s, s))
    errors: list[str] = []
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    logger.info("building preprocessing cache %s: %d slices at %d px", npy.name, len(refs), s)

    def job(i: int, out: np.ndarray = arr) -> tuple[int, str | None]:
        x, err = _encode_ref(refs[i], spec)
        out[i] = x
        return i, err

    try:
        if n_workers > 1:
            # decode (file reads) and cv2/numpy windowing release the GIL: threads suffice.
            with ThreadPoolExecutor(n_workers) as pool:
                results = pool.map(job, range(len(refs)), chunksize=1)
                for done, (_, err) in enumerate(results, start=1):
                    if err:
                        errors.append(err)
                    if progress:
                        progress(done, len(refs))
        else:
            for done, i in enumerate(range(len(refs)), start=1):
                if err := job(i)[1]:
                    errors.append(err)
                if progress:
                    progress(done, len(refs))
        arr.flush()
        del arr
        os.replace(tmp, npy)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if errors:
        logger.warning(
            "%d slices could not be decoded and are cached as air (first: %s)",
            len(errors),
            errors[0],
        )
    meta.write_text(
        json.dumps(
            {
                "version": CACHE_VERSION,
                "key": key,
                "n": len(refs),
                "size": s,
                "spec": spec.to_dict(),
                "n_errors": len(errors),
                "sop_instance_uids": [r.sop_instance_uid for r in refs],
            }
        )
    )
    return CacheFile(npy, key, len(refs), s, len(errors))
