"""The AI engine: checkpoint, network, preprocess, predictor, CAM, cache, triage (no Qt).

Importing this package is cheap: torch is imported only when one of the names below is first
used (PEP 562 module ``__getattr__``), so the window can open before torch has loaded.

    from ichviewer.ai import Predictor, load_checkpoint
    predictor = Predictor(load_checkpoint(path))
    result = predictor.predict([hu_slice], want_cam=True)[0]
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoadedCheckpoint": "checkpoint",
    "file_sha256": "checkpoint",
    "load_checkpoint": "checkpoint",
    "model_card": "checkpoint",
    "save_checkpoint": "checkpoint",
    "DenseNetCAM": "network",
    "build_model": "network",
    "imagenet_weights_available": "network",
    "PreprocessSpec": "preprocess",
    "preprocess": "preprocess",
    "preprocess_array": "preprocess",
    "preprocess_batch": "preprocess",
    "class_activation_maps": "cam",
    "normalise_maps": "cam",
    "ResultCache": "cache",
    "SliceResult": "results",
    "ScoringJob": "jobs",
    "priority_order": "jobs",
    "Predictor": "predictor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ichviewer.ai' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ichviewer.ai.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
