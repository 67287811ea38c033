"""Batches for the training step: uint8 cache rows (and lesion bitmasks) -> augmented,
normalised model input on the device.

The augmentation is a random plausible-anatomy affine per image; lesion planes ride along
in the same ``grid_sample`` so they move exactly as the image does. With ``appearance`` > 0
each image then also gets what differs between scanners and sites and not between bleeds
(:func:`appearance`): a calibration offset and gain, a sharper or softer kernel, more
noise. The network has to find blood by its shape and its contrast to brain, not by the
generator's texture.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ichviewer.ai.preprocess import PreprocessSpec, standardize
from ichviewer.core.labels import SUBTYPES
from training.cache import normalize


def random_affine(
    n: int,
    gen: torch.Generator,
    *,
    rotate_deg: float = 10.0,
    scale: float = 0.1,
    shift: float = 0.06,
    flip: bool = True,
) -> torch.Tensor:
    """(n, 2, 3) ``affine_grid`` matrices of :func:`augment`'s random affines (drawn on the
    CPU: the same on any device)."""
    u = torch.rand(n, 5, generator=gen)
    ang = (u[:, 0] * 2 - 1) * math.radians(rotate_deg)
    s = 1.0 + (u[:, 1] * 2 - 1) * scale
    tx = (u[:, 2] * 2 - 1) * shift * 2  # affine_grid works in [-1, 1]
    ty = (u[:, 3] * 2 - 1) * shift * 2
    fl = torch.where((u[:, 4] < 0.5) & flip, -1.0, 1.0)
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    return torch.stack(
        [torch.stack([cos * fl, -sin, tx], 1), torch.stack([sin * fl, cos, ty], 1)], 1
    )


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) resampled through (N, 2, 3) affines; outside the field of view is 0."""
    theta = theta.to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(x: torch.Tensor, gen: torch.Generator, **kw: Any) -> torch.Tensor:
    """Random plausible-anatomy affine per image on [0, 1] windowed channels (N, 3, S, S).

    Small rotation (``rotate_deg``), isotropic ``scale``, ``shift``, and a left-right
    ``flip`` (hemorrhage is not lateralised in the labels), :func:`random_affine`. Outside
    the field of view is 0 = air in every window.
    """
    return warp(x, random_affine(x.shape[0], gen, **kw))


def appearance(
    x01: torch.Tensor, gen: torch.Generator, spec: PreprocessSpec, strength: float = 1.0
) -> torch.Tensor:
    """Scanner-to-scanner differences on [0, 1] windowed channels (N, 3, S, S), in HU so
    the three windows stay consistent: brain offset +-4 HU and gain +-6 %, a Gaussian blur
    (sigma up to 1 px) or an unsharp mask (up to 0.8), and added noise up to 4 HU. Each
    image gets each with probability 1/2 (x ``strength`` for the sizes)."""
    if strength <= 0:
        return x01
    n = x01.shape[0]
    u = torch.rand(n, 7, generator=gen).to(x01.device, x01.dtype)
    widths = torch.tensor([w for _, w in spec.windows], device=x01.device, dtype=x01.dtype)
    per_hu = (1.0 / widths).view(1, 3, 1, 1)  # window units per HU (linear windows)
    on = (u[:, :4] < 0.5).to(x01.dtype)  # which of the four each image gets
    offset = (u[:, 4] * 2 - 1) * 4.0 * strength * on[:, 0]
    gain = 1.0 + (u[:, 5] * 2 - 1) * 0.06 * strength * on[:, 0]
    # Offset and gain around brain (40 HU): a scanner calibrated a little differently.
    levels = torch.tensor([lv for lv, _ in spec.windows], device=x01.device, dtype=x01.dtype)
    # (in place after the first step: the same arithmetic, without a tensor per step)
    hu = (x01 - 0.5).div_(per_hu).add_(levels.view(1, 3, 1, 1))
    hu.sub_(40.0).mul_(gain.view(-1, 1, 1, 1)).add_(40.0).add_(offset.view(-1, 1, 1, 1))
    # Kernel: blur (softer) or unsharp mask (sharper), never both; only the images that
    # get one are blurred (about half).
    amt = (u[:, 6] * 2 - 1) * strength  # < 0: blur towards it, > 0: sharpen away from it
    soft = on[:, 1] * (amt < 0).to(x01.dtype) * (-amt)
    sharp = on[:, 2] * (amt > 0).to(x01.dtype) * 0.8 * amt
    mix = soft - sharp
    some = torch.nonzero(mix).flatten()
    if len(some):
        sub = hu[some]
        hu[some] = sub + mix[some].view(-1, 1, 1, 1) * (binomial_blur(sub) - sub)
    noise = torch.randn(n, 1, *x01.shape[2:], generator=gen).to(x01.device, x01.dtype)
    sd = 4.0 * strength * on[:, 3] * torch.rand(n, generator=gen).to(x01.device, x01.dtype)
    hu.add_(noise * sd.view(-1, 1, 1, 1))
    return hu.sub_(levels.view(1, 3, 1, 1)).mul_(per_hu).add_(0.5).clamp_(0.0, 1.0)


#: The 5-tap binomial kernel (sigma 1 px) of :func:`binomial_blur`.
BINOMIAL5 = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap binomial blur of (N, C, H, W), edges replicated. Shifted sums: on
    the CPU they are 4x faster than a depthwise ``conv2d`` (which took a fifth of a
    training step)."""
    h, w = x.shape[-2:]
    p = F.pad(x, (2, 2, 2, 2), mode="replicate")
    rows = sum(k * p[..., i : i + w] for i, k in enumerate(BINOMIAL5))
    return sum(k * rows[..., i : i + h, :] for i, k in enumerate(BINOMIAL5))


def prepare_batch(
    x: torch.Tensor, spec: PreprocessSpec, gen: torch.Generator | None, aug: dict[str, Any] | None
) -> torch.Tensor:
    """uint8 cache rows -> augmented (when asked), normalised float input."""
    if x.dtype != torch.uint8:
        return x.float()
    if aug is None or gen is None:
        return normalize(x, spec)
    aug = dict(aug)
    strength = float(aug.pop("appearance", 0.0))
    out = augment(x.float() / 255.0, gen, **aug)
    if strength > 0:
        out = appearance(out, gen, spec, strength)
    return standardize(out, spec)


def prepare_masked_batch(
    x: torch.Tensor,
    masks: torch.Tensor,
    spec: PreprocessSpec,
    gen: torch.Generator | None,
    aug: dict[str, Any] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`prepare_batch`, and the lesion planes (N, 5, S, S) moved by the same
    augmentation (the image's random draws are the same with or without masks). Only the
    rows with a lesion are resampled: the others' planes are all zero either way."""
    if aug is None or gen is None:
        return normalize(x, spec), bits_to_planes(masks)
    aug = dict(aug)
    strength = float(aug.pop("appearance", 0.0))
    theta = random_affine(len(x), gen, **aug)
    img = warp(x.float() / 255.0, theta)
    planes = torch.zeros((len(x), len(SUBTYPES), *masks.shape[1:]), device=img.device)
    rows = torch.nonzero(masks.flatten(1).amax(1)).flatten()
    if len(rows):
        planes[rows] = warp(bits_to_planes(masks[rows]), theta[rows.cpu()])
    if strength > 0:
        img = appearance(img, gen, spec, strength)
    return standardize(img, spec), planes


def bits_to_planes(m: torch.Tensor) -> torch.Tensor:
    """uint8 (N, S, S) bitmasks -> float (N, 5, S, S) planes in SUBTYPES order."""
    shifts = torch.arange(len(SUBTYPES), device=m.device, dtype=torch.uint8).view(1, -1, 1, 1)
    return ((m.unsqueeze(1) >> shifts) & 1).float()
