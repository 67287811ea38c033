"""int8 CPU inference of the DenseNet's feature extractor (PyTorch's x86 quantisation).

Why this one (measured with tests/bench/bench_ai.py on an AVX-512 VNNI CPU, densenet121 at
256 px, batch 8, one thread): int8 features 6.5x faster than eager fp32, bf16 autocast 3.1x.
It needs nothing beyond torch, which the bundle ships anyway; ONNX Runtime (+ onnx for the
quantiser, ~30 MB more in the bundle) or OpenVINO (+ NNCF, larger still) would have to
export and quantise an arbitrary checkpoint at load time too. torch.ao's FX graph mode is
marked for migration to torchao upstream; it is imported lazily, and any failure here (an
older torch, a CPU without the x86 engine, an unexpected network) means the predictor
falls back to bf16 / fp32.

What runs: the exact inference rewrite of :mod:`ichviewer.ai.fastpath` (BatchNorm folded
into the convolution before it, transitions pooling first), restated as a module without
torchvision's control flow so FX can trace it, then post-training static quantisation:
per-channel int8 weights, uint8 activations (full 8-bit range) observed on phantom
calibration slices. Only
the features are quantised; the output is dequantised float32 feature maps F, so pooling,
the classifier and the class activation maps stay float32 and come from the same pass. The
predictor accepts the result only after the same load-time check as bf16 (max |delta p|
against the checkpoint's fp32 network on phantom slices <= 0.02).
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from ichviewer.ai.ensemble import feature_parts
from ichviewer.ai.fastpath import PoolFirstTransition
from ichviewer.ai.network import DenseNetCAM

logger = logging.getLogger("ichviewer.ai")

__all__ = ["TraceableFeatures", "int8_available", "quantize_features"]

ENGINE = "x86"


def int8_available() -> bool:
    """True when this torch has the x86 quantised engine (fbgemm + oneDNN kernels)."""
    try:
        return ENGINE in torch.backends.quantized.supported_engines
    except (AttributeError, RuntimeError):
        return False


class _Layer(nn.Module):
    """A dense layer after the rewrite: norm1 -> ReLU -> conv1 (norm2 folded) -> ReLU -> conv2."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        if not isinstance(getattr(layer, "norm2", None), nn.Identity):
            raise ValueError("dense layer without a folded norm2 (not an inference_copy)")
        self.norm1, self.relu1 = layer.norm1, nn.ReLU()
        self.conv1, self.relu2 = layer.conv1, nn.ReLU()
        self.conv2 = layer.conv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.conv1(self.relu1(self.norm1(x)))))


class _Transition(nn.Module):
    def __init__(self, t: PoolFirstTransition) -> None:
        super().__init__()
        self.norm, self.relu = t.norm, nn.ReLU()
        self.pool, self.conv = nn.AvgPool2d(2, 2), t.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(self.relu(self.norm(x))))


class _TraceableDenseNet(nn.Module):
    """One DenseNet's feature extractor (an :func:`inference_copy`'s ``features``) without
    data-dependent control flow: the same arithmetic, the same parameters."""

    def __init__(self, feats: nn.Module) -> None:
        super().__init__()
        if not isinstance(getattr(feats, "norm0", None), nn.Identity):
            raise ValueError("stem without a folded norm0 (not an inference_copy)")
        self.conv0, self.relu0, self.pool0 = feats.conv0, nn.ReLU(), feats.pool0
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for name, module in feats.named_children():
            if name.startswith("denseblock"):
                self.blocks.append(nn.ModuleList(_Layer(layer) for layer in module.children()))
            elif name.startswith("transition"):
                if not isinstance(module, PoolFirstTransition):
                    raise ValueError(f"{name} is not a 2x2 average-pool transition")
                self.transitions.append(_Transition(module))
        if len(self.transitions) != len(self.blocks) - 1:
            raise ValueError("unexpected DenseNet layout")
        self.norm5, self.relu5 = feats.norm5, nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool0(self.relu0(self.conv0(x)))
        for k, block in enumerate(self.blocks):
            maps = [x]
            for layer in block:
                maps.append(layer(torch.cat(maps, 1)))
            x = torch.cat(maps, 1)
            if k < len(self.transitions):
                x = self.transitions[k](x)
        return self.relu5(self.norm5(x))


class TraceableFeatures(nn.Module):
    """The feature maps F (after norm5 + ReLU) of an :func:`inference_copy` network, as a
    module with no data-dependent control flow; an ensemble's members side by side
    (:mod:`ichviewer.ai.ensemble`)."""

    def __init__(self, fast: DenseNetCAM) -> None:
        super().__init__()
        self.parts = nn.ModuleList(_TraceableDenseNet(f) for f in feature_parts(fast.net.features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.parts) == 1:
            return self.parts[0](x)
        return torch.cat([part(x) for part in self.parts], 1)


def quantize_features(fast: DenseNetCAM, calibration: torch.Tensor) -> nn.Module:
    """int8 feature extractor of ``fast`` (an :func:`inference_copy`), activation ranges
    observed on ``calibration`` (N x 3 x S x S, preprocessed). Input: float32 NCHW or
    channels_last; output: float32 feature maps F. Raises on anything it cannot handle."""
    from torch.ao.quantization import QConfig, get_default_qconfig_mapping
    from torch.ao.quantization.observer import (
        HistogramObserver,
        default_per_channel_weight_observer,
    )
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = ENGINE
    module = TraceableFeatures(fast).eval()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; it is still the supported
        # path in this torch (see the module docstring), and the check at load guards it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        # Full 8-bit activation range: x86's default (reduce_range, 7 bits, against overflow
        # on CPUs without VNNI) put the shipped 0.58M-parameter model 0.040 off fp32 on the
        # check slices, 8 bits 0.012. Where 8 bits overflow, the check at load refuses int8.
        qconfig = QConfig(
            activation=HistogramObserver.with_args(reduce_range=False),
            weight=default_per_channel_weight_observer,
        )
        mapping = get_default_qconfig_mapping(ENGINE).set_global(qconfig)
        prepared = prepare_fx(module, mapping, example_inputs=(calibration[:1],))
        with torch.no_grad():  # observers update their buffers in place
            prepared(calibration.contiguous(memory_format=torch.channels_last))
        return convert_fx(prepared).eval()
