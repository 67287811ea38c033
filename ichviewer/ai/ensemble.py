"""Several DenseNets of one architecture scored as one network (``arch_kwargs["members"]``).

Networks trained from different random seeds on the same data disagree on real CT far more
than on the phantoms they were trained on: two seeds of the bundled recipe flagged 8 % and
29 % of one normal real series (README, "ablations"). Averaging them is the textbook cure for
that variance, and it can be done without giving up the exact CAM (DESIGN.md contract 6):

- the feature maps of the M members are laid side by side, ``F = cat(F_1, ..., F_M)``
  (:class:`MemberFeatures`; every member has the same layout, so the same h x w);
- one linear classifier weighs them, ``W = [W_1, ..., W_M] / M`` and ``b = mean(b_m)``
  (:func:`combined_classifier`).

Each label's map is then ``S_c = sum_k w_ck F_k + b_c = mean_m(S_c^m)``: the mean of the
members' maps. The global pool (average or log-sum-exp, see :mod:`ichviewer.ai.network`) runs
on that map, so the probability and the heatmap still come from one and the same map. With
the average pool the logits are exactly the mean of the members' logits.

:class:`EnsembleDenseNet` has torchvision's two attributes (``features``, ``classifier``),
so :class:`~ichviewer.ai.network.DenseNetCAM`, mirror averaging, the CAM and the fast paths
use it unchanged. Its ``state_dict`` keys are ``features.parts.<m>.<torchvision key>`` and
``classifier.weight`` / ``classifier.bias`` (the combined layer).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: Most members a checkpoint may ask for (each one costs a full forward pass per slice).
MAX_MEMBERS = 8


class MemberFeatures(nn.Module):
    """The members' feature extractors; output: their maps concatenated on channels."""

    def __init__(self, parts: Sequence[nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([part(x) for part in self.parts], dim=1)


def feature_parts(features: nn.Module) -> list[nn.Module]:
    """The torchvision ``features`` modules inside ``features``: an ensemble's members, or
    ``features`` itself for a single network (what the fast paths rewrite one by one)."""
    return list(features.parts) if isinstance(features, MemberFeatures) else [features]


def combined_classifier(classifiers: Sequence[nn.Linear]) -> nn.Linear:
    """One linear layer on the concatenated features that gives the mean of the members'
    outputs: weight ``[W_1, ..., W_M] / M``, bias ``mean(b_m)``."""
    m = len(classifiers)
    out_features = {c.out_features for c in classifiers}
    if len(out_features) != 1:
        raise ValueError(f"members have different numbers of labels: {sorted(out_features)}")
    fc = nn.Linear(sum(c.in_features for c in classifiers), out_features.pop())
    with torch.no_grad():
        fc.weight.copy_(torch.cat([c.weight.detach() for c in classifiers], dim=1) / m)
        fc.bias.copy_(torch.stack([c.bias.detach() for c in classifiers]).mean(0))
    return fc


class EnsembleDenseNet(nn.Module):
    """M torchvision DenseNets as one: ``features`` (:class:`MemberFeatures`) and the
    :func:`combined_classifier` of theirs (the members' own classifiers are not kept)."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        if not 2 <= len(nets) <= MAX_MEMBERS:
            raise ValueError(f"an ensemble has 2 to {MAX_MEMBERS} members, got {len(nets)}")
        self.features = MemberFeatures([net.features for net in nets])
        self.classifier = combined_classifier([net.classifier for net in nets])
