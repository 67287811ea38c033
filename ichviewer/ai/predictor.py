"""Run a checkpoint on HU slices: probabilities and CAMs from one forward pass.

CUDA when there is one (bf16 or fp16 autocast), else the CPU with channels_last memory and,
in this order of preference, int8 features (PyTorch's x86 quantisation,
:mod:`ichviewer.ai.quantize`), bf16 autocast where the CPU has native bf16 (AVX-512 BF16 /
AMX), or fp32. The network that runs is an exact inference rewrite of the checkpoint's
(:mod:`ichviewer.ai.fastpath`). A lower precision is used only after it has been checked
against the checkpoint's network in fp32 on a few phantom slices at load time (max |delta p|
<= 0.02); otherwise the next one is tried. Which precision runs, and the delta measured, are
on the predictor for the UI and reports.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ichviewer.ai.cam import class_activation_maps
from ichviewer.ai.checkpoint import LoadedCheckpoint, load_checkpoint
from ichviewer.ai.fastpath import inference_copy
from ichviewer.ai.jobs import ScoringJob, priority_order
from ichviewer.ai.network import mirror_averaged
from ichviewer.ai.preprocess import PreprocessSpec, preprocess_batch
from ichviewer.ai.results import SliceResult
from ichviewer.core.constants import DEVICES
from ichviewer.core.cpu import usable_cores
from ichviewer.core.heap import keep_freed_memory
from ichviewer.core.triage import flagged_labels
from ichviewer.errors import IchViewerError, ModelOutputError

logger = logging.getLogger("ichviewer.ai")

__all__ = ["Predictor", "ScoringJob", "SliceResult", "priority_order", "default_threads"]

#: Largest max |p_lowprec - p_fp32| accepted on the load-time check.
AGREEMENT_TOLERANCE = 0.02
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: Calibration slices for int8 (other phantoms than the check slices, seed 0).
CALIBRATION_SEED = 101


def default_threads() -> int:
    """Intra-op threads: every core this process may use but one (the UI keeps one)."""
    return max(1, usable_cores() - 1)


def cpu_bf16_supported() -> bool:
    """True when the CPU runs bf16 natively (oneDNN's check) on an AVX-512 build of the kernels."""
    try:
        capability = str(torch.backends.cpu.get_cpu_capability()).upper()
        return "AVX512" in capability and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def phantom_slices(n: int = 3, size: int = 256, seed: int = 0) -> list[np.ndarray]:
    """A few head-like HU slices (skull, brain, ventricles, a bright blob) for self-checks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    out = []
    for i in range(n):
        r = np.hypot(xx / 0.40, yy / 0.47)
        hu = np.full((size, size), -1000.0, dtype=np.float32)
        hu[r < 1.0] = 900.0  # skull
        hu[r < 0.92] = 35.0  # brain
        hu[np.hypot((xx - 0.05) / 0.06, yy / 0.12) < 1] = 5.0  # ventricle
        cy, cx = 0.1 * (i - 1), 0.15 - 0.1 * i
        hu[np.hypot(xx - cx, yy - cy) < 0.05 + 0.02 * i] = 70.0  # blood-like blob
        hu += rng.normal(0.0, 4.0, hu.shape).astype(np.float32)
        out.append(hu)
    return out


def demo_check_slices(n: int = 10, shift: float = 0.0) -> list[np.ndarray]:
    """Up to ``n`` evenly spaced HU slices of the bundled demo study (skull base to vertex,
    with its hemorrhages), for the precision checks; none when it is not installed.
    ``shift`` (0-1 of a step) picks other slices: int8 is calibrated on ``shift=0.5``,
    checked on ``shift=0``.

    The three simple phantoms alone are not enough: int8 features of the bundled model
    agreed with fp32 within 0.012 on them but differed by 0.35 on the demo and 0.43 on
    cq500_ct0, so a check on scanner-like slices decides."""
    from ichviewer import paths
    from ichviewer.io import SeriesReader, scan

    try:
        found = scan([paths.demo_study_path()])
        if not found.series:
            return []
        reader = SeriesReader(found.series[0])
        count = reader.series.n_slices
        step = (count - 1) / max(1, n - 1)
        order = sorted({min(count - 1, round((i + shift) * step)) for i in range(min(n, count))})
        reader.load_all(order=order, strategy="serial")  # ten slices: no worker pool
        return [reader.volume[i].copy() for i in order if reader.loaded[i]]
    except Exception as exc:  # a damaged install: the phantoms still check
        logger.warning("demo slices for the precision check unavailable: %s", exc)
        return []


def _resolve_device(device: str) -> torch.device:
    if device not in DEVICES:
        raise IchViewerError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise IchViewerError("device 'cuda' was asked for but no CUDA GPU is available")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Predictor:
    """Scores HU slices with one checkpoint. Thread-safe (one forward pass at a time).

    Parameters
    ----------
    checkpoint : a LoadedCheckpoint or the path of a checkpoint file
    device : "auto" (CUDA if available, else CPU), "cpu" or "cuda"
    batch_size : slices per forward pass
    threads : CPU intra-op threads (process-wide); default :func:`default_threads`
    precision : "auto" (CPU: int8, else bf16 where native, whichever first agrees with
        fp32; CUDA: bf16/fp16), "fp32", "bf16" (try bf16 even where not native; still
        checked) or "int8" (CPU only; still checked, else fp32)
    cam_dtype : dtype of the CAMs handed back (float16 halves their memory)
    check_slices : HU slices for the bf16 agreement check (default: :func:`phantom_slices`)
    """

    def __init__(
        self,
        checkpoint: LoadedCheckpoint | str | Path,
        device: str = "auto",
        batch_size: int = 8,
        threads: int | None = None,
        *,
        precision: str = "auto",
        cam_dtype: Any = np.float32,
        check_slices: Sequence[np.ndarray] | None = None,
    ) -> None:
        if not isinstance(checkpoint, LoadedCheckpoint):
            checkpoint = load_checkpoint(checkpoint)
        if precision not in PRECISIONS:
            raise IchViewerError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        if batch_size < 1:
            raise IchViewerError(f"batch_size must be >= 1, got {batch_size}")
        self.checkpoint = checkpoint
        self.spec: PreprocessSpec = checkpoint.spec
        self.labels = checkpoint.labels
        self.thresholds = checkpoint.threshold_array
        self.context = checkpoint.context
        #: score the mean of each slice's and its mirror image's features (checkpoint's choice)
        self.mirror_average = bool(checkpoint.mirror_average)
        self.sha256 = checkpoint.sha256
        self.name = checkpoint.name
        self.batch_size = int(batch_size)
        self.cam_dtype = np.dtype(cam_dtype)
        self.device = _resolve_device(device)
        self.threads: int | None = None
        if self.device.type == "cpu":
            self.threads = int(threads) if threads else default_threads()
            torch.set_num_threads(self.threads)
            keep_freed_memory()  # 8 % off scoring a 238-slice series (ichviewer.core.heap)
        self._lock = threading.Lock()
        # The checkpoint's network (the fp32 reference) and the rewritten copy that runs.
        self.model = checkpoint.model.to(self.device).eval()
        self._net = inference_copy(self.model).to(self.device, memory_format=torch.channels_last)
        self._weight = self._net.classifier.weight.detach().to(torch.float32)
        self.precision = "fp32"
        self.agreement_delta: float | None = None
        #: the int8 feature extractor, when int8 runs (None otherwise)
        self._qfeatures: torch.nn.Module | None = None
        self._low_dtype: torch.dtype | None = None
        if self._try_int8(precision, check_slices):
            pass
        elif precision != "int8" and (dtype := self._low_precision_candidate(precision)):
            self._low_dtype = dtype
            self._choose_precision(check_slices)
        else:  # still look once: a model whose outputs are NaN is refused at load
            self._forward(
                preprocess_batch(phantom_slices(1, self.spec.size), self.spec), None, False
            )
        logger.info(
            "predictor: %s on %s, precision %s (delta %s), %s threads, batch %d",
            self.name,
            self.device,
            self.precision,
            self.agreement_delta,
            self.threads,
            self.batch_size,
        )

    # -- precision ----------------------------------------------------------------------------
    def _low_precision_candidate(self, precision: str) -> torch.dtype | None:
        if precision == "fp32":
            return None
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if precision == "bf16" or cpu_bf16_supported():
            return torch.bfloat16
        return None

    def _check_batch(self, check_slices: Sequence[np.ndarray] | None) -> torch.Tensor:
        slices = (
            list(check_slices)
            if check_slices is not None
            else phantom_slices(3, self.spec.size) + demo_check_slices()
        )
        return preprocess_batch(slices, self.spec)

    def _try_int8(self, precision: str, check_slices: Sequence[np.ndarray] | None) -> bool:
        """Quantise the features to int8 and keep them if they agree with fp32 (CPU only)."""
        if precision not in ("auto", "int8") or self.device.type != "cpu":
            return False
        from ichviewer.ai.quantize import int8_available, quantize_features

        if not int8_available():
            return False
        calibration = preprocess_batch(  # activation ranges of scanner-like slices too
            phantom_slices(4, self.spec.size, seed=CALIBRATION_SEED)
            + demo_check_slices(8, shift=0.5),
            self.spec,
        )
        try:
            qfeatures = quantize_features(self._net, calibration)
            x = self._check_batch(check_slices)
            p32, _ = self._forward(x, None, want_features=False, net=self.model)
            p8, _ = self._forward(x, torch.qint8, want_features=False, features=qfeatures)
        except ModelOutputError:
            raise
        except Exception as exc:  # any network quantisation cannot handle: fall back
            logger.warning("int8 quantisation not possible (%s); trying bf16 / fp32", exc)
            return False
        delta = float(np.max(np.abs(p8 - p32)))
        self.agreement_delta = delta
        if delta > AGREEMENT_TOLERANCE:
            logger.warning(
                "int8 disagrees with fp32 by %.4f (> %.2f) on the check slices",
                delta,
                AGREEMENT_TOLERANCE,
            )
            return False
        self._qfeatures = qfeatures
        self._low_dtype = torch.qint8  # marks the int8 pass (no autocast)
        self.precision = "int8"
        return True

    def _choose_precision(self, check_slices: Sequence[np.ndarray] | None) -> None:
        x = self._check_batch(check_slices)
        p32, _ = self._forward(x, None, want_features=False, net=self.model)
        plow, _ = self._forward(x, self._low_dtype, want_features=False)
        delta = float(np.max(np.abs(plow - p32)))
        self.agreement_delta = delta
        name = {torch.bfloat16: "bf16", torch.float16: "fp16"}[self._low_dtype]
        if delta <= AGREEMENT_TOLERANCE:
            self.precision = name
        else:
            logger.warning(
                "%s disagrees with fp32 by %.4f (> %.2f) on the check slices; using fp32",
                name,
                delta,
                AGREEMENT_TOLERANCE,
            )
            self.precision = "fp32"
            self._low_dtype = None

    def _autocast(self, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
        if dtype is None or dtype == torch.qint8:  # qint8: the int8 features, no autocast
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    # -- inference ----------------------------------------------------------------------------
    def _forward(
        self,
        x: torch.Tensor,
        dtype: torch.dtype | None,
        want_features: bool,
        net: torch.nn.Module | None = None,
        features: Any = None,
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        """Probabilities (N, 6) and, on request, float32 feature maps, from one pass of
        ``net`` (default: the rewritten network that serves predictions), its features
        computed by ``features`` when given (the int8 extractor)."""
        net = self._net if net is None else net
        features = net.features if features is None else features
        with torch.inference_mode():
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with self._autocast(dtype):
                feats = mirror_averaged(features, x) if self.mirror_average else features(x)
            # Pooling and the linear head in fp32: negligible cost, and the CAM identity
            # pool(CAM_c) + b_c == logit_c then holds exactly in the same precision.
            feats = feats.float()
            logits = net.head(feats)
            probs = torch.sigmoid(logits).cpu().numpy().astype(np.float32)
        if not np.isfinite(probs).all():
            # The one check of what the network says: a NaN is no "0 % hemorrhage".
            bad = int((~np.isfinite(probs)).any(axis=1).sum())
            raise ModelOutputError(
                f"model {self.name} (sha256 {self.sha256[:16]}) gave NaN or infinite outputs "
                f"on {bad} of {len(probs)} slice(s): its weights are broken; nothing was scored "
                "with it (load another model)"
            )
        return probs, (feats if want_features else None)

    def predict(self, hu_slices: Sequence[np.ndarray], want_cam: bool = False) -> list[SliceResult]:
        """Score slices (any sizes) in batches; CAMs come back at each slice's resolution."""
        results: list[SliceResult] = []
        for start in range(0, len(hu_slices), self.batch_size):
            chunk = list(hu_slices[start : start + self.batch_size])
            x = preprocess_batch(chunk, self.spec)
            with self._lock:
                probs, feats = self._forward(
                    x, self._low_dtype, want_features=want_cam, features=self._qfeatures
                )
                for j, hu in enumerate(chunk):
                    cams = None
                    if feats is not None:
                        cams = class_activation_maps(feats[j], self._weight, size=np.shape(hu)[:2])
                        cams = cams.cpu().numpy().astype(self.cam_dtype, copy=False)
                    results.append(SliceResult(probabilities=probs[j].copy(), cams=cams))
        return results

    def predict_one(self, hu_slice: np.ndarray, want_cam: bool = False) -> SliceResult:
        """One slice (the one on screen)."""
        return self.predict([hu_slice], want_cam=want_cam)[0]

    def in_series(self, probabilities: np.ndarray, positions_mm: Sequence[float]) -> np.ndarray:
        """The probabilities to show and flag for one series: the checkpoint's series-context
        stage over the network's per-slice ones (N, 6; NaN rows: not scored), or the
        per-slice ones unchanged when the checkpoint has no such stage."""
        p = np.asarray(probabilities, dtype=np.float32)
        if self.context is None:
            return p.copy()
        return self.context.apply(p, positions_mm)

    @property
    def study_threshold(self) -> float:
        """The study-level operating point on a study's largest P(any): the checkpoint's,
        else the slice threshold of 'any' (a study is flagged when a slice is)."""
        if self.checkpoint.study_threshold is not None:
            return float(self.checkpoint.study_threshold)
        return float(self.checkpoint.thresholds["any"])

    def flagged_labels(self, probabilities: np.ndarray) -> list[str]:
        """Labels at or above their operating threshold (core.triage's rule)."""
        return flagged_labels(probabilities, self.thresholds)

    def describe(self) -> dict[str, Any]:
        """What runs, for reports and the about box."""
        return {
            "device": str(self.device),
            "precision": self.precision,
            "agreement_delta": self.agreement_delta,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "input_size": self.spec.size,
            "series_context_mm": None if self.context is None else list(self.context.distances_mm),
            "mirror_average": self.mirror_average,
            "members": int(self.checkpoint.arch_kwargs.get("members", 1)),
            "study_threshold": self.study_threshold,
        }
