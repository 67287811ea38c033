"""HU slice -> model input, exactly as the checkpoint says (DESIGN.md contract 3).

One source of truth: training and the viewer both call :func:`preprocess` (or
:func:`preprocess_array` in a data loader), so the network sees byte-for-byte the same input
in both. What is on screen (the user's window, linear or sigmoid) never changes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from ichviewer.core.constants import AIR_HU
from ichviewer.core.windowing import MODES, PRESETS, STACK_PRESETS, stack_windows
from ichviewer.errors import ModelLoadError

DEFAULT_WINDOWS: tuple[tuple[float, float], ...] = tuple(
    (PRESETS[p].level, PRESETS[p].width) for p in STACK_PRESETS
)
MAX_SIZE = 2048


def _err(field: str, why: str, value: Any) -> ModelLoadError:
    return ModelLoadError(f"preprocess spec: {field} {why}, got {value!r}")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class PreprocessSpec:
    """Model input definition stored in the checkpoint.

    size : S, the square input side in pixels
    windows : three (level, width) HU pairs, one per channel (brain, subdural, bone)
    mode : "linear" or "sigmoid" windowing (see ichviewer.core.windowing)
    mean, std : per-channel normalisation applied after windowing
    """

    size: int = 256
    windows: tuple[tuple[float, float], ...] = DEFAULT_WINDOWS
    mode: str = "linear"
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        # Normalise containers (lists from JSON / a checkpoint) to tuples of floats.
        try:
            windows = tuple((float(lv), float(wd)) for lv, wd in self.windows)
        except (TypeError, ValueError):
            raise _err("windows", "must be (level, width) pairs", self.windows) from None
        object.__setattr__(self, "windows", windows)
        for name in ("mean", "std"):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, tuple(float(v) for v in value))
            except (TypeError, ValueError):
                raise _err(name, "must be three numbers", value) from None
        self.validate()

    def validate(self) -> None:
        """Raise ModelLoadError naming the first bad field."""
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 < self.size <= MAX_SIZE
        ):
            raise _err("size", f"must be an int in 1..{MAX_SIZE}", self.size)
        if len(self.windows) != 3:
            raise _err("windows", "must hold exactly 3 (level, width) pairs", self.windows)
        for i, (level, width) in enumerate(self.windows):
            if not math.isfinite(level):
                raise _err(f"windows[{i}] level", "must be finite", level)
            if not (math.isfinite(width) and width > 0):
                raise _err(f"windows[{i}] width", "must be > 0", width)
        if self.mode not in MODES:
            raise _err("mode", f"must be one of {', '.join(MODES)}", self.mode)
        if len(self.mean) != 3 or not all(_finite(m) for m in self.mean):
            raise _err("mean", "must be three finite numbers", self.mean)
        if len(self.std) != 3 or not all(_finite(s) and s > 0 for s in self.std):
            raise _err("std", "must be three numbers > 0", self.std)

    @property
    def channel_names(self) -> list[str]:
        """Preset name of each channel's window, or "L/W" for a custom one."""
        by_value = {(w.level, w.width): name for name, w in PRESETS.items()}
        return [by_value.get(w, f"{w[0]:g}/{w[1]:g}") for w in self.windows]

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (the checkpoint is read with weights_only=True)."""
        return {
            "size": int(self.size),
            "windows": [[float(lv), float(wd)] for lv, wd in self.windows],
            "mode": str(self.mode),
            "mean": [float(m) for m in self.mean],
            "std": [float(s) for s in self.std],
            "channels": self.channel_names,
            "input": "HU",
            "resize": "cv2 INTER_AREA when shrinking, INTER_LINEAR when enlarging",
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreprocessSpec:
        """Parse and validate; ModelLoadError names a missing or bad field."""
        if not isinstance(d, Mapping):
            raise ModelLoadError(f"preprocess spec must be a dict, got {type(d).__name__}")
        missing = [k for k in ("size", "windows", "mode", "mean", "std") if k not in d]
        if missing:
            raise ModelLoadError(f"preprocess spec: missing field(s) {', '.join(missing)}")
        return cls(
            size=d["size"], windows=d["windows"], mode=d["mode"], mean=d["mean"], std=d["std"]
        )


def resize_hu(hu: np.ndarray, size: int) -> np.ndarray:
    """Resize an HU slice to (size, size) float32.

    INTER_AREA (a box average, no aliasing) when shrinking, which is the usual case
    (512 -> 256). When a side must grow, INTER_LINEAR: OpenCV's INTER_AREA degrades to
    nearest-neighbour when enlarging.
    """
    a = np.ascontiguousarray(hu, dtype=np.float32)
    # Non-finite pixels (never expected from the decoder) read as air.
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"expected a 2-D HU slice, got shape {a.shape}")
    if not np.isfinite(a).all():
        a = np.nan_to_num(a, nan=AIR_HU, posinf=AIR_HU, neginf=AIR_HU)
    h, w = a.shape
    if (h, w) == (size, size):
        return a.copy()
    interp = cv2.INTER_AREA if (h >= size and w >= size) else cv2.INTER_LINEAR
    return cv2.resize(a, (size, size), interpolation=interp)


def standardize(x: Any, spec: PreprocessSpec, channel_axis: int = -3) -> Any:
    """Windowed channels in [0, 1] -> ``(x - mean) / std`` of the spec, in float32.

    The one normalisation: :func:`preprocess_array` applies it to a slice, training to its
    cached (N, 3, S, S) batches. ``x`` is a numpy array or a torch tensor (the statistics go
    to its device); ``channel_axis`` holds the three channels (channels first by default).
    """
    shape = [1] * x.ndim
    shape[channel_axis] = len(spec.mean)
    if isinstance(x, np.ndarray):
        mean = np.asarray(spec.mean, dtype=np.float32).reshape(shape)
        std = np.asarray(spec.std, dtype=np.float32).reshape(shape)
    else:
        mean = torch.tensor(spec.mean, dtype=torch.float32, device=x.device).view(shape)
        std = torch.tensor(spec.std, dtype=torch.float32, device=x.device).view(shape)
    return (x - mean) / std


def preprocess_array(hu_slice: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """(H, W) HU -> (3, S, S) float32 numpy array (for data loaders that prefer numpy)."""
    small = resize_hu(hu_slice, spec.size)
    chans = stack_windows(small, spec.windows, spec.mode)  # (S, S, 3) in [0, 1]
    return np.ascontiguousarray(standardize(chans, spec, channel_axis=-1).transpose(2, 0, 1))


def preprocess(hu_slice: np.ndarray, spec: PreprocessSpec) -> torch.Tensor:
    """(H, W) HU -> (3, S, S) float32 tensor: resize, three windows, normalise."""
    return torch.from_numpy(preprocess_array(hu_slice, spec))


def preprocess_batch(hu_slices: Sequence[np.ndarray], spec: PreprocessSpec) -> torch.Tensor:
    """Several slices (any sizes) -> (N, 3, S, S) float32 tensor."""
    out = np.empty((len(hu_slices), 3, spec.size, spec.size), dtype=np.float32)
    for i, hu in enumerate(hu_slices):
        out[i] = preprocess_array(hu, spec)
    return torch.from_numpy(out)
