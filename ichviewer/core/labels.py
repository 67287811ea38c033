"""Hemorrhage labels in the RSNA 2019 order (DESIGN.md contract 4)."""

from __future__ import annotations

LABELS: tuple[str, ...] = (
    "epidural",
    "intraparenchymal",
    "intraventricular",
    "subarachnoid",
    "subdural",
    "any",
)
SUBTYPES: tuple[str, ...] = LABELS[:-1]
#: Weights of the RSNA weighted multi-label log loss ("any" counts twice).
RSNA_LOSS_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 2.0)
