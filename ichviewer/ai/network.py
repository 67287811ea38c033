"""The DenseNet the viewer runs, wrapped so class activation maps come from the same pass.

torchvision's DenseNet computes ``classifier(pool(relu(features(x))))``. :class:`DenseNetCAM`
keeps the torchvision module untouched (so its ``state_dict`` has torchvision's keys and
torchvision weights load as they are) and exposes the two halves separately:
:meth:`DenseNetCAM.features` gives the feature maps F after the final norm + ReLU, and
:attr:`DenseNetCAM.classifier` the linear layer, so ``logits = classifier(mean_hw(F))`` and
the CAM of label c is ``ReLU(sum_k w_ck F_k)`` (DESIGN.md contract 6).

The global pool is the average by default (torchvision's). ``pool="lse"`` pools each label's
map instead of the features: ``logit_c = LSE_hw(S_c) + b_c`` with ``S_c = sum_k w_ck F_k``
and ``LSE_hw(S) = log(mean_hw(exp(S)))``, a smooth maximum in logit units. A lesion that fills
one cell of the map then moves the logit as much as the hot cell does (the average divides it
by h*w), and the CAM is still exactly the map the score is pooled from. For the average both
orders are the same pool, so ``mean_hw(S_c) + b_c == logit_c`` either way.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision.models.densenet as tv_densenet
from torch import nn

from ichviewer.ai.ensemble import MAX_MEMBERS, EnsembleDenseNet

logger = logging.getLogger("ichviewer.ai")

#: Named torchvision variants; "densenet" is a custom size given entirely by kwargs.
NAMED_ARCHS: dict[str, Any] = {
    "densenet121": tv_densenet.densenet121,
    "densenet161": tv_densenet.densenet161,
    "densenet169": tv_densenet.densenet169,
    "densenet201": tv_densenet.densenet201,
}
CUSTOM_ARCH = "densenet"
ARCHS: tuple[str, ...] = (*NAMED_ARCHS, CUSTOM_ARCH)
#: Keyword arguments each kind of arch accepts (everything else is refused by name).
CUSTOM_KWARGS = frozenset(
    {
        "growth_rate",
        "block_config",
        "num_init_features",
        "bn_size",
        "drop_rate",
        "memory_efficient",
        "pool",
        "members",
    }
)
NAMED_KWARGS = frozenset({"drop_rate", "memory_efficient", "pool", "members"})
#: Global pools (the ``pool`` kwarg; ours, not torchvision's): see the module docstring.
POOLS: tuple[str, ...] = ("avg", "lse")
#: ImageNet weights of the named variants (torchvision's enum, used only to find a cached file).
_IMAGENET_WEIGHTS = {
    "densenet121": tv_densenet.DenseNet121_Weights.IMAGENET1K_V1,
    "densenet161": tv_densenet.DenseNet161_Weights.IMAGENET1K_V1,
    "densenet169": tv_densenet.DenseNet169_Weights.IMAGENET1K_V1,
    "densenet201": tv_densenet.DenseNet201_Weights.IMAGENET1K_V1,
}
# Old torchvision checkpoints name layers 'norm.1' where the module is now 'norm1'.
_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


class DenseNetCAM(nn.Module):
    """A torchvision DenseNet (``.net``) with its feature maps and classifier exposed for CAMs.

    Checkpoints store ``.net.state_dict()``: plain torchvision keys (``features.*``,
    ``classifier.*``), so a stock torchvision DenseNet loads the same weights.
    """

    def __init__(self, net: tv_densenet.DenseNet, arch: str, arch_kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.arch = arch
        self.arch_kwargs = dict(arch_kwargs)
        self.pool = str(self.arch_kwargs.get("pool", "avg"))
        self.imagenet_init = False

    @property
    def classifier(self) -> nn.Linear:
        """The linear layer whose weights w_ck weigh feature map k for label c."""
        return self.net.classifier

    @property
    def num_features(self) -> int:
        """K, the number of feature maps the classifier weighs."""
        return int(self.net.classifier.in_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps F (N, K, h, w): after the final norm and ReLU, before pooling."""
        return F.relu(self.net.features(x))

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits from feature maps: classifier(global average pool(F)), or with
        ``pool="lse"`` the log-mean-exp of each label's map S_c plus its bias (in float32)."""
        if self.pool == "avg":
            return self.net.classifier(torch.flatten(F.adaptive_avg_pool2d(feats, 1), 1))
        return self._lse(self.label_maps(feats))

    @staticmethod
    def _lse(maps: torch.Tensor) -> torch.Tensor:
        """log(mean_hw(exp(maps))); LSE_hw(S_c + b_c) == LSE_hw(S_c) + b_c, so pooling the
        maps with their bias gives the logits."""
        s = maps.flatten(2)
        return torch.logsumexp(s, dim=2) - math.log(s.shape[2])

    def label_maps(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) float32 maps S_c + b_c with S_c = sum_k w_ck F_k: each cell's logit,
        the map the CAM shows (training can supervise it with lesion masks)."""
        fc = self.net.classifier
        with torch.autocast(feats.device.type, enabled=False):
            s = torch.einsum("ck,nkhw->nchw", fc.weight.float(), feats.float())
            return s + fc.bias.float().view(1, -1, 1, 1)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, F) from one forward pass: the CAM and the probabilities share it."""
        feats = self.features(x)
        return self.head(feats), feats

    def forward(
        self, x: torch.Tensor, maps: bool = False, mirror: bool = False
    ) -> torch.Tensor | tuple:
        """Logits; with ``maps=True`` (logits, label_maps) from the same pass; with
        ``mirror=True`` from :func:`mirror_averaged` features (inference only)."""
        feats = mirror_averaged(self.features, x) if mirror else self.features(x)
        if not maps:
            return self.head(feats)
        label_maps = self.label_maps(feats)
        logits = self._lse(label_maps) if self.pool == "lse" else self.head(feats)
        return logits, label_maps


def mirror_averaged(features: Any, x: torch.Tensor) -> torch.Tensor:
    """Feature maps made exactly left-right symmetric in the input: the mean of F(x) and
    the mirror image of F(mirror(x)), from one pass over both (2N images).

    For the mirrored input the result is the mirror image of this one, so the pooled logits
    (average or log-sum-exp: neither cares where a cell is) are the same for a study and
    its left-right mirror, and each CAM is the mirror image of the other. A network trained
    with flip augmentation is nearly symmetric already; this makes the patient's side
    irrelevant by construction (averaging also evens out the two views' noise).
    """
    n = x.shape[0]
    f = features(torch.cat([x, torch.flip(x, dims=(-1,))]))
    return 0.5 * (f[:n] + torch.flip(f[n:], dims=(-1,)))


def check_arch(arch: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate an arch name and its kwargs; return kwargs as build_model wants them.

    Raises ValueError naming the unknown arch or keyword.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch {arch!r} is not supported; choose one of {', '.join(ARCHS)}")
    allowed = CUSTOM_KWARGS if arch == CUSTOM_ARCH else NAMED_KWARGS
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(
            f"arch {arch!r} does not take {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    out = dict(kwargs)
    if "block_config" in out:
        try:
            out["block_config"] = tuple(int(b) for b in out["block_config"])
        except (TypeError, ValueError):
            raise ValueError(
                f"block_config must be a list of ints, got {out['block_config']!r}"
            ) from None
        if not out["block_config"] or min(out["block_config"]) < 1:
            raise ValueError(
                f"block_config must be non-empty positive ints, got {out['block_config']!r}"
            )
    if out.get("pool", "avg") not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {out['pool']!r}")
    members = out.get("members", 1)
    if not isinstance(members, int) or isinstance(members, bool) or not 1 <= members <= MAX_MEMBERS:
        raise ValueError(f"members must be an int from 1 to {MAX_MEMBERS}, got {members!r}")
    for key in ("growth_rate", "num_init_features", "bn_size"):
        if key in out and (not isinstance(out[key], int) or out[key] < 1):
            raise ValueError(f"{key} must be a positive int, got {out[key]!r}")
    for key, most in KWARG_LIMITS.items():
        if key in out and out[key] > most:
            raise ValueError(f"{key} {out[key]} is larger than any DenseNet (at most {most})")
    if "block_config" in out and (
        len(out["block_config"]) > MAX_BLOCKS or max(out["block_config"]) > MAX_LAYERS_PER_BLOCK
    ):
        raise ValueError(
            f"block_config {list(out['block_config'])} is larger than any DenseNet (at most "
            f"{MAX_BLOCKS} blocks of {MAX_LAYERS_PER_BLOCK} layers)"
        )
    n = estimated_parameters(arch, out) * members
    if n > MAX_PARAMETERS:
        raise ValueError(
            f"the architecture asks for about {n / 1e6:.0f} M parameters; at most "
            f"{MAX_PARAMETERS / 1e6:.0f} M are accepted (densenet201 has 18 M)"
        )
    return out


#: Limits a checkpoint's architecture must respect before anything is allocated for it.
KWARG_LIMITS = {"growth_rate": 128, "num_init_features": 512, "bn_size": 8}
MAX_BLOCKS = 6
MAX_LAYERS_PER_BLOCK = 64
MAX_PARAMETERS = 100_000_000
_NAMED_CONFIG = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}


def estimated_parameters(arch: str, kwargs: dict[str, Any]) -> int:
    """Parameters of a DenseNet, counted from its configuration (convolutions only; the
    norms and the classifier add under 1 %), so a size can be refused before it is built."""
    gr, blocks, init = _NAMED_CONFIG.get(arch, (32, (6, 12, 24, 16), 64))
    gr = int(kwargs.get("growth_rate", gr))
    blocks = tuple(kwargs.get("block_config", blocks))
    init = int(kwargs.get("num_init_features", init))
    bn = int(kwargs.get("bn_size", 4))
    total, ch = 3 * init * 49, init
    for k, layers in enumerate(blocks):
        for _ in range(layers):
            total += ch * bn * gr + bn * gr * gr * 9
            ch += gr
        if k < len(blocks) - 1:
            total += ch * (ch // 2)
            ch //= 2
    return int(total)


def imagenet_weights_available(arch: str = "densenet121") -> Path | None:
    """The ImageNet weights file of ``arch`` if it is already in the torch hub cache, else None.

    Nothing is ever downloaded: reading rooms and this build run offline.
    """
    weights = _IMAGENET_WEIGHTS.get(arch)
    if weights is None:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return path if path.is_file() else None


def _load_imagenet(net: tv_densenet.DenseNet, path: Path) -> None:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    for key in list(sd):
        m = _LEGACY_KEY.match(key)
        if m:
            sd[m.group(1) + m.group(2)] = sd.pop(key)
    # Only the feature extractor: the 1000-class ImageNet head does not fit our labels.
    feats = {k[len("features.") :]: v for k, v in sd.items() if k.startswith("features.")}
    net.features.load_state_dict(feats)


def build_model(
    arch: str = "densenet121", num_classes: int = 6, *, imagenet: bool = False, **kwargs: Any
) -> DenseNetCAM:
    """A freshly initialised DenseNet (``weights=None``) wrapped for CAMs.

    ``imagenet=True`` starts the feature extractor from ImageNet weights when the file is
    already cached locally (:func:`imagenet_weights_available`); otherwise it logs that and
    keeps the random init. ``kwargs`` go to torchvision (custom sizes: arch="densenet" with
    growth_rate, block_config, num_init_features, bn_size, drop_rate), except ``pool``
    ("avg" or "lse", see the module docstring), which is ours.
    """
    kwargs = check_arch(arch, kwargs)
    tv_kwargs = {k: v for k, v in kwargs.items() if k not in ("pool", "members")}
    nets = []
    for _ in range(kwargs.get("members", 1)):
        if arch == CUSTOM_ARCH:
            nets.append(tv_densenet.DenseNet(num_classes=num_classes, **tv_kwargs))
        else:
            nets.append(NAMED_ARCHS[arch](weights=None, num_classes=num_classes, **tv_kwargs))
    stored = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    model = DenseNetCAM(nets[0] if len(nets) == 1 else EnsembleDenseNet(nets), arch, stored)
    if imagenet:
        path = imagenet_weights_available(arch)
        if path is None:
            logger.info("no cached ImageNet weights for %s; starting from random init", arch)
        else:
            for net in nets:
                _load_imagenet(net, path)
            model.imagenet_init = True
            logger.info("feature extractor initialised from %s", path)
    return model


def ensemble_of(models: list[DenseNetCAM]) -> DenseNetCAM:
    """One network scoring the mean of ``models``' label maps (:mod:`ichviewer.ai.ensemble`).

    The members must be single networks of one architecture (same arch and kwargs); their
    weights are shared with the result, not copied.
    """
    if len(models) < 2:
        raise ValueError("an ensemble needs at least two networks")
    first = models[0]
    for k, m in enumerate(models):
        if isinstance(m.net, EnsembleDenseNet):
            raise ValueError(f"network {k} is an ensemble already")
        if (m.arch, m.arch_kwargs) != (first.arch, first.arch_kwargs):
            raise ValueError(
                f"network {k} is {m.arch} {m.arch_kwargs}, network 0 {first.arch} "
                f"{first.arch_kwargs}: members must share one architecture"
            )
    kwargs = {**first.arch_kwargs, "members": len(models)}
    model = DenseNetCAM(EnsembleDenseNet([m.net for m in models]), first.arch, kwargs)
    model.imagenet_init = all(m.imagenet_init for m in models)
    return model
