"""The viewer's checkpoint file: one writer, one strict reader (DESIGN.md contract 5).

The file is a ``torch.save`` of plain types only (dicts, lists, str, int, float, tensors) so it
is read with ``torch.load(..., weights_only=True)`` and nothing else: a file that asks the
unpickler to import or call anything is refused as unsafe before any of it runs. Every
refusal is a :class:`~ichviewer.errors.ModelLoadError` naming the file and what is wrong.

Version 2 adds an optional ``slice_context`` entry (:mod:`ichviewer.core.slice_context`):
the series-context stage the viewer applies to the network's per-slice probabilities. Its
``thresholds`` are then the operating points of the revised probabilities (what every screen
and report shows); the network's own are kept in ``slice_context["slice_thresholds"]``.
Files without the stage are written as version 1, which earlier viewers read as before.

Version 3 adds two optional entries that change what the viewer computes, so earlier
viewers refuse such a file instead of scoring it differently:
``inference = {"mirror_average": bool}`` (score each slice with the mean of its own and its
left-right mirror image's feature maps, :func:`ichviewer.ai.network.mirror_averaged`) and
``study = {"threshold": float, "rule": str}`` (the study-level operating point on the
study's largest P(any), :mod:`ichviewer.core.triage`).

An ensemble of networks (:mod:`ichviewer.ai.ensemble`) is ``arch_kwargs["members"] = M``
with its members' weights under ``features.parts.<m>.``; a viewer from before ensembles
refuses the file by naming that keyword, rather than scoring it wrongly.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ichviewer.ai.checkpoint_entries import (
    parse_context,
    parse_thresholds,
    parse_v3,
    thresholds_dict,
)
from ichviewer.ai.model_card import (  # noqa: F401 - re-exported: the card is part of the file
    DEFAULT_INTENDED_USE,
    NOT_FOR_DIAGNOSIS,
    RETRAIN_HINT,
    model_card,
)
from ichviewer.ai.network import DenseNetCAM, build_model, check_arch
from ichviewer.ai.preprocess import PreprocessSpec
from ichviewer.core.labels import LABELS
from ichviewer.core.slice_context import SliceContext
from ichviewer.errors import ModelLoadError
from ichviewer.paths import atomic_write_bytes

logger = logging.getLogger("ichviewer.ai")

FORMAT_NAME = "ichviewer-checkpoint"
FORMAT_VERSION = 3
#: Versions this reader accepts: 1 (no series context), 2 (optional ``slice_context``) and
#: 3 (optional ``inference`` and ``study`` too).
READABLE_VERSIONS = (1, 2, 3)
REQUIRED_KEYS: tuple[str, ...] = (
    "format",
    "version",
    "arch",
    "arch_kwargs",
    "labels",
    "preprocess",
    "state_dict",
    "thresholds",
    "card",
)
#: Larger files are refused before reading (densenet201 is ~80 MB).
MAX_FILE_BYTES = 1 << 30
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class LoadedCheckpoint:
    """A validated checkpoint, its model in eval mode on the CPU."""

    model: DenseNetCAM
    spec: PreprocessSpec
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    card: dict[str, Any]
    sha256: str
    name: str
    path: Path | None = None
    arch: str = "densenet121"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    #: where ``thresholds`` came from: "checkpoint", or "site config <file>" when a
    #: reading room's policy replaced some of them (see ichviewer.site_config)
    threshold_source: str = "checkpoint"
    #: the series-context stage (None: probabilities are the network's, slice by slice)
    context: SliceContext | None = None
    #: the network's own thresholds when ``context`` is set (for information)
    slice_thresholds: dict[str, float] | None = None
    #: score each slice as the mean of its and its mirror image's features (version 3)
    mirror_average: bool = False
    #: study-level threshold on the study's largest P(any) (version 3; None: not stored)
    study_threshold: float | None = None
    #: how ``study_threshold`` was chosen
    study_rule: str = ""

    @property
    def threshold_array(self) -> np.ndarray:
        """Operating thresholds as float32[6] in LABELS order."""
        return np.array([self.thresholds[lb] for lb in self.labels], dtype=np.float32)

    @property
    def synthetic(self) -> bool:
        """True when the card says the model was trained on synthetic data."""
        return "synthetic" in str(self.card.get("training_data", "")).lower()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (the model's identity in caches and reports)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _plain(obj: Any, where: str) -> Any:
    """Deep-copy ``obj`` as plain types, refusing anything weights_only could not read."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"{where} holds a {type(obj).__name__}; only plain types can be stored")


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    spec: PreprocessSpec,
    thresholds: Mapping[str, float] | Sequence[float] | np.ndarray,
    card: Mapping[str, Any] | None = None,
    *,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    slice_context: SliceContext | None = None,
    slice_thresholds: Mapping[str, float] | Sequence[float] | np.ndarray | None = None,
    mirror_average: bool = False,
    study_threshold: float | None = None,
    study_rule: str = "",
) -> str:
    """Write a checkpoint atomically and return its SHA-256.

    ``model`` is a :class:`DenseNetCAM` (arch and kwargs taken from it) or a bare torchvision
    DenseNet (then pass ``arch`` and ``arch_kwargs``). ``card`` is merged over
    :func:`model_card`; its ``intended_use`` must say "not for diagnostic use". With
    ``slice_context``, ``thresholds`` apply to its revised probabilities and
    ``slice_thresholds`` (required then) are the network's own. ``mirror_average`` and
    ``study_threshold`` (version 3) are described in the module docstring.
    """
    if isinstance(model, DenseNetCAM):
        arch = arch or model.arch
        arch_kwargs = model.arch_kwargs if arch_kwargs is None else arch_kwargs
        net = model.net
    else:
        net = model
        if arch is None:
            raise ValueError("arch is required when model is not a DenseNetCAM")
    kwargs = _plain(dict(arch_kwargs or {}), "arch_kwargs")
    check_arch(arch, kwargs)
    full_card = model_card(spec)
    full_card.update(_plain(dict(card or {}), "card"))
    if NOT_FOR_DIAGNOSIS not in str(full_card.get("intended_use", "")).lower():
        raise ValueError(f"card intended_use must contain {NOT_FOR_DIAGNOSIS!r}")
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    v3 = mirror_average or study_threshold is not None
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION if v3 else (1 if slice_context is None else 2),
        "arch": arch,
        "arch_kwargs": kwargs,
        "labels": list(LABELS),
        "preprocess": spec.to_dict(),
        "state_dict": state,
        "thresholds": thresholds_dict(thresholds),
        "card": full_card,
    }
    if slice_context is not None:
        if slice_thresholds is None:
            raise ValueError("slice_thresholds (the network's own) are required with slice_context")
        payload["slice_context"] = {
            **slice_context.to_dict(),
            "slice_thresholds": thresholds_dict(slice_thresholds),
        }
    if mirror_average:
        payload["inference"] = {"mirror_average": True}
    if study_threshold is not None:
        t = float(study_threshold)
        if not (math.isfinite(t) and 0.0 <= t <= 1.0):
            raise ValueError(f"study threshold must be in [0, 1], got {t}")
        payload["study"] = {"threshold": t, "rule": str(study_rule)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    atomic_write_bytes(Path(path), data)
    sha = hashlib.sha256(data).hexdigest()
    logger.info("wrote checkpoint %s (%d bytes, sha256 %s)", path, len(data), sha[:16])
    return sha


def _torch_load(name: str, data: bytes) -> Any:
    """torch.load with weights_only=True, its many failure types turned into one message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol notices on foreign files
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, KeyError...
        msg = str(exc)
        glob = re.search(r"GLOBAL ([\w.]+)", msg) or re.search(
            r"[Uu]nsupported global: ([\w.]+)", msg
        )
        if glob or "Unsupported class" in msg:
            what = glob.group(1) if glob else "a Python class"
            raise ModelLoadError(
                f"{name}: refused as unsafe: the file asks to load Python code ({what}), which "
                "is not allowed in a checkpoint (only weights and plain values are). Nothing "
                "from it was run."
            ) from None
        if data[:4] == _ZIP_MAGIC:
            raise ModelLoadError(
                f"{name}: not a checkpoint file: a zip archive that is not a PyTorch file"
            ) from None
        raise ModelLoadError(
            f"{name}: not a checkpoint file (not a PyTorch file: {type(exc).__name__})"
        ) from None


def _check_state_dict(name: str, model: DenseNetCAM, state: Any) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ModelLoadError(f"{name}: state_dict is not a mapping of names to tensors")
    expected = model.net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} (model expects {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if keys:
            more = f" and {len(keys) - 4} more" if len(keys) > 4 else ""
            problems.append(f"{len(keys)} {what}: {', '.join(keys[:4])}{more}")
    if problems:
        raise ModelLoadError(
            f"{name}: weights do not match the {model.arch} architecture ({'; '.join(problems)})"
        )
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ModelLoadError(f"{name}: weights hold NaN or infinite values in {k}")
    return dict(state)


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Read and validate a checkpoint; the model comes back in eval mode on the CPU."""
    path = Path(path)
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelLoadError(f"{name}: {size} bytes is too large for a checkpoint")
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(
            f"{name}: cannot read the checkpoint ({exc.strerror or exc})"
        ) from None
    if not data:
        raise ModelLoadError(f"{name}: not a checkpoint file (the file is empty)")
    sha = hashlib.sha256(data).hexdigest()
    obj = _torch_load(name, data)
    if not isinstance(obj, Mapping) or "format" not in obj:
        raise ModelLoadError(
            f"{name}: not an ICH Viewer checkpoint (no 'format' entry; a plain state_dict or "
            "another program's file?)"
        )
    if obj["format"] != FORMAT_NAME:
        raise ModelLoadError(f"{name}: format is {obj['format']!r}, expected {FORMAT_NAME!r}")
    if obj.get("version") not in READABLE_VERSIONS:
        raise ModelLoadError(
            f"{name}: unsupported checkpoint version {obj.get('version')!r} "
            f"(this viewer reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise ModelLoadError(f"{name}: checkpoint is missing key(s) {', '.join(missing)}")
    labels = obj["labels"]
    if not isinstance(labels, (list, tuple)) or tuple(labels) != LABELS:
        raise ModelLoadError(
            f"{name}: labels are {labels!r}; the viewer needs {list(LABELS)} in this (RSNA) order"
        )
    try:
        spec = PreprocessSpec.from_dict(obj["preprocess"])
    except ModelLoadError as exc:
        raise ModelLoadError(f"{name}: {exc}") from None
    arch, kwargs = obj["arch"], obj["arch_kwargs"]
    if not isinstance(arch, str) or not isinstance(kwargs, Mapping):
        raise ModelLoadError(f"{name}: arch must be a name and arch_kwargs a dict")
    try:
        check_arch(arch, dict(kwargs))  # sizes checked before anything is allocated
        model = build_model(arch, num_classes=len(LABELS), **dict(kwargs))
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: cannot build the network: {exc}") from None
    state = _check_state_dict(name, model, obj["state_dict"])
    model.net.load_state_dict(state, strict=True)
    model.eval()
    thresholds = parse_thresholds(name, obj["thresholds"])
    context, slice_thresholds = parse_context(name, obj)
    mirror, study_threshold, study_rule = parse_v3(name, obj)
    card = obj["card"]
    if not isinstance(card, Mapping):
        raise ModelLoadError(f"{name}: card must be a dict, got {type(card).__name__}")
    card = dict(card)
    if NOT_FOR_DIAGNOSIS not in str(card.get("intended_use", "")).lower():
        logger.warning("model card of %s does not state %r", path.name, NOT_FOR_DIAGNOSIS)
    model_name = str(card.get("name") or path.stem)
    logger.info("loaded checkpoint %s (%s, sha256 %s)", path.name, arch, sha[:16])
    return LoadedCheckpoint(
        model=model,
        spec=spec,
        labels=tuple(labels),
        thresholds=thresholds,
        card=card,
        sha256=sha,
        name=model_name,
        path=path,
        arch=arch,
        arch_kwargs=dict(kwargs),
        context=context,
        slice_thresholds=slice_thresholds,
        mirror_average=mirror,
        study_threshold=study_threshold,
        study_rule=study_rule,
    )
