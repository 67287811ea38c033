"""Batches for the training step: uint8 cache rows (and lesion bitmasks) -> augmented,
normalised model input on the device.

The augmentation is a random plausible-anatomy affine per image; lesion planes ride along
in the same ``grid_sample`` so they move exactly as the image does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ichviewer.ai.preprocess import PreprocessSpec
from ichviewer.core.labels import SUBTYPES
from training.cache import normalize


def augment(
    x: torch.Tensor,
    gen: torch.Generator,
    *,
    rotate_deg: float = 10.0,
    scale: float = 0.1,
    shift: float = 0.06,
    flip: bool = True,
) -> torch.Tensor:
    """Random plausible-anatomy affine per image on [0, 1] windowed channels (N, 3, S, S).

    Small rotation, isotropic scale, shift, and a left-right flip (hemorrhage is not
    lateralised in the labels). Outside the field of view is 0 = air in every window.
    """
    n = x.shape[0]
    u = torch.rand(n, 5, generator=gen)  # params drawn on the CPU: same on any device
    ang = (u[:, 0] * 2 - 1) * math.radians(rotate_deg)
    s = 1.0 + (u[:, 1] * 2 - 1) * scale
    tx = (u[:, 2] * 2 - 1) * shift * 2  # affine_grid works in [-1, 1]
    ty = (u[:, 3] * 2 - 1) * shift * 2
    fl = torch.where((u[:, 4] < 0.5) & flip, -1.0, 1.0)
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack(
        [torch.stack([cos * fl, -sin, tx], 1), torch.stack([sin * fl, cos, ty], 1)], 1
    ).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def prepare_batch(
    x: torch.Tensor, spec: PreprocessSpec, gen: torch.Generator | None, aug: dict[str, Any] | None
) -> torch.Tensor:
    """uint8 cache rows -> augmented (when asked), normalised float input."""
    if x.dtype != torch.uint8:
        return x.float()
    if aug is None or gen is None:
        return normalize(x, spec)
    return _standardise(augment(x.float() / 255.0, gen, **aug), spec)


def _standardise(x01: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """[0, 1] windowed channels -> (x - mean) / std of the spec."""
    mean = torch.tensor(spec.mean, device=x01.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x01.device).view(1, 3, 1, 1)
    return (x01 - mean) / std


def prepare_masked_batch(
    x: torch.Tensor,
    masks: torch.Tensor,
    spec: PreprocessSpec,
    gen: torch.Generator | None,
    aug: dict[str, Any] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`prepare_batch`, and the lesion planes (N, 5, S, S) moved by the same
    augmentation (the image's random draws are the same with or without masks)."""
    planes = bits_to_planes(masks)
    if aug is None or gen is None:
        return normalize(x, spec), planes
    both = augment(torch.cat([x.float() / 255.0, planes], dim=1), gen, **aug)
    return _standardise(both[:, :3], spec), both[:, 3:]


def bits_to_planes(m: torch.Tensor) -> torch.Tensor:
    """uint8 (N, S, S) bitmasks -> float (N, 5, S, S) planes in SUBTYPES order."""
    shifts = torch.arange(len(SUBTYPES), device=m.device, dtype=torch.uint8).view(1, -1, 1, 1)
    return ((m.unsqueeze(1) >> shifts) & 1).float()
