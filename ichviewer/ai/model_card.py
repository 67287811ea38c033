"""The model card a checkpoint carries (DESIGN.md contract 5), shaped like a MONAI bundle's
metadata.json: what the network takes and gives, what it was trained on, its metrics and
its intended use, which must say "not for diagnostic use"."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from ichviewer.ai.preprocess import PreprocessSpec
from ichviewer.core.constants import DISCLAIMER
from ichviewer.core.labels import LABELS

#: What a card's intended use must say (the checkpoint writer refuses a card without it).
NOT_FOR_DIAGNOSIS = DISCLAIMER.lower()
DEFAULT_INTENDED_USE = (
    "Research and teaching demonstration of a second-read triage aid for intracranial "
    f"hemorrhage on head CT; {NOT_FOR_DIAGNOSIS}."
)
RETRAIN_HINT = (
    "Retrain on the RSNA 2019 Intracranial Hemorrhage Detection data (stage_2_train) with: "
    "python -m training fit --data <rsna_stage_2_dir>, then python -m training export."
)


def model_card(
    spec: PreprocessSpec,
    *,
    name: str = "ichviewer-densenet",
    version: str = "1.0.0",
    training_data: str = "synthetic phantoms",
    metrics: Mapping[str, Any] | None = None,
    command: str = "",
    date: str | None = None,
    intended_use: str = DEFAULT_INTENDED_USE,
    description: str = "DenseNet multi-label classifier of intracranial hemorrhage per CT slice.",
    **extra: Any,
) -> dict[str, Any]:
    """A model card shaped like a MONAI bundle's metadata.json (plain types only)."""
    channel_def = {
        str(i): f"{n} window {lv:g}/{wd:g} HU ({spec.mode}), normalised (x-{m:g})/{s:g}"
        for i, (n, (lv, wd), m, s) in enumerate(
            zip(spec.channel_names, spec.windows, spec.mean, spec.std, strict=True)
        )
    }
    card: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": description,
        "training_data": training_data,
        "metrics": dict(metrics or {}),
        "command": command,
        "date": date or _dt.date.today().isoformat(),
        "intended_use": intended_use,
        "retrain": RETRAIN_HINT,
        "labels": list(LABELS),
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "modality": "CT",
                    "format": "HU",
                    "num_channels": 1,
                    "dtype": "float32",
                    "value_range": [-1024, 3071],
                    "preprocess": f"resize to {spec.size}x{spec.size}, 3 windows, normalise",
                    "channel_def": channel_def,
                }
            },
            "outputs": {
                "pred": {
                    "type": "probabilities",
                    "format": "multi-label sigmoid",
                    "num_channels": len(LABELS),
                    "value_range": [0, 1],
                    "channel_def": {str(i): lb for i, lb in enumerate(LABELS)},
                }
            },
        },
    }
    card.update(extra)
    return card
