"""Class activation maps (Zhou et al. 2016) from the forward pass that gave the probabilities.

For a network ``logits = W . mean_hw(F) + b`` the map of label c is
``ReLU(sum_k W[c, k] F[k])`` (DESIGN.md contract 6). Its spatial mean (before the ReLU) plus
``b[c]`` is exactly the logit (for a ``pool="lse"`` network its log-mean-exp is), so the map
shows where the score came from, not an approximation of it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ichviewer.core.heatmap import normalise_map


def class_activation_maps(
    features: torch.Tensor,
    classifier_weight: torch.Tensor,
    size: tuple[int, int] | None = None,
    *,
    normalise: bool = False,
) -> torch.Tensor:
    """CAMs of every label from feature maps and classifier weights.

    Parameters
    ----------
    features : (K, h, w) or (N, K, h, w) feature maps F (after the final ReLU)
    classifier_weight : (C, K) weights of the linear layer
    size : (H, W) to upsample to (bilinear, the slice resolution); None keeps (h, w)
    normalise : scale each map to [0, 1] by its own maximum (see :func:`normalise_maps`)

    Returns float32 (C, H, W), or (N, C, H, W) for batched features. Computed in float32
    whatever the precision of the forward pass.
    """
    batched = features.dim() == 4
    feats = features if batched else features.unsqueeze(0)
    w = classifier_weight.detach().to(torch.float32)  # maps are for display: no autograd
    cams = torch.relu(torch.einsum("ck,nkhw->nchw", w, feats.detach().to(torch.float32)))
    if size is not None and tuple(cams.shape[-2:]) != tuple(size):
        cams = F.interpolate(cams, size=tuple(size), mode="bilinear", align_corners=False)
        cams = cams.clamp_min_(0.0)  # bilinear of non-negative maps is non-negative; guard rounding
    if normalise:
        cams = normalise_maps(cams)
    return cams if batched else cams[0]


def normalise_maps(cams: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Each map divided by its own maximum ([0, 1]); all-zero maps stay zero
    (:func:`ichviewer.core.heatmap.normalise_map`, for arrays or tensors: returns the same
    kind)."""
    if isinstance(cams, np.ndarray):
        return normalise_map(cams)
    out = torch.from_numpy(normalise_map(cams.detach().float().cpu().numpy()))
    return out.to(cams.device)
