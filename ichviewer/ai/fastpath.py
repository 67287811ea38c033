"""Inference-only rewrites of a DenseNet that change nothing but float rounding.

1. A BatchNorm that directly follows a convolution is folded into it (``conv0 -> norm0`` in
   the stem and ``conv1 -> norm2`` in every dense layer): one pass over memory fewer each.
2. In transitions the 2x2 average pooling moves before the 1x1 convolution. Both are linear
   and commute exactly; the convolution then runs on a quarter of the pixels.

Feature maps F (after ``norm5`` + ReLU) and the classifier are untouched, so CAMs and
probabilities keep their meaning. Predictor checks the rewritten network in its chosen
precision against the original network in fp32 at load time.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ichviewer.ai.ensemble import feature_parts
from ichviewer.ai.network import DenseNetCAM


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """The convolution ``bn(conv(x))`` as a single convolution with a bias (eval mode)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
    ).to(conv.weight.device, conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias.detach() * scale + shift if conv.bias is not None else shift
        fused.bias.copy_(bias)
    return fused


class PoolFirstTransition(nn.Module):
    """A DenseNet transition (norm, ReLU, 1x1 conv, 2x2 avg pool) with the pool moved first."""

    def __init__(self, norm: nn.BatchNorm2d, conv: nn.Conv2d) -> None:
        super().__init__()
        self.norm, self.conv = norm, conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.avg_pool2d(F.relu(self.norm(x)), kernel_size=2, stride=2))


def _rewrite(feats: nn.Module) -> None:
    """Apply the two rewrites to one torchvision ``features`` module, in place."""
    if isinstance(getattr(feats, "norm0", None), nn.BatchNorm2d):
        feats.conv0 = fold_batchnorm(feats.conv0, feats.norm0)
        feats.norm0 = nn.Identity()
    for name, module in list(feats.named_children()):
        if name.startswith("denseblock"):
            for layer in module.children():
                layer.conv1 = fold_batchnorm(layer.conv1, layer.norm2)
                layer.norm2 = nn.Identity()
        elif name.startswith("transition"):
            pool = module.pool
            if isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2 and pool.stride == 2:
                setattr(feats, name, PoolFirstTransition(module.norm, module.conv))


def inference_copy(model: DenseNetCAM) -> DenseNetCAM:
    """A rewritten deep copy of ``model`` for inference (the original is not changed); each
    member of an ensemble (:mod:`ichviewer.ai.ensemble`) is rewritten the same way."""
    net = copy.deepcopy(model.net).eval()
    for part in feature_parts(net.features):
        _rewrite(part)
    out = DenseNetCAM(net, model.arch, model.arch_kwargs)
    return out.eval().requires_grad_(False)
