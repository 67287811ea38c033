"""The picture of a flagged slice that goes into a secondary capture: the brain window with
the class activation map blended on and "NOT FOR DIAGNOSTIC USE" burned in.

Split out of :mod:`ichviewer.net.results`, which re-exports everything here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ichviewer.core.heatmap import cam_to_rgba
from ichviewer.core.windowing import apply_window
from ichviewer.net.sr_content import NOT_FOR_DIAGNOSTIC_USE


def burn_in(
    hu: np.ndarray,
    cam: np.ndarray | None,
    lines: Sequence[str],
    *,
    min_size: int = 512,
) -> tuple[np.ndarray, int]:
    """RGB uint8 capture of a slice: brain window, heatmap blended on, text drawn.

    Returns (image, scale): small slices are enlarged by the integer ``scale`` (nearest
    neighbour) so the text stays legible; the caller divides the pixel spacing by it.
    """
    import cv2

    gray = (apply_window(np.asarray(hu, dtype=np.float32), "brain") * 255.0 + 0.5).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1).astype(np.float32)
    if cam is not None:
        rgba = cam_to_rgba(np.asarray(cam, dtype=np.float32)).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgb * (1.0 - alpha) + rgba[..., :3] * alpha
    img = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    scale = max(1, int(np.ceil(min_size / max(1, min(img.shape[:2])))))
    if scale > 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    h, w = img.shape[:2]
    font, fs = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 900.0)
    th = max(1, round(fs * 2))
    step = int(30 * fs) + 6
    text = [NOT_FOR_DIAGNOSTIC_USE, *lines]
    for k, line in enumerate(text):
        y = step * (k + 1)
        colour = (255, 40, 40) if k == 0 else (255, 255, 0)
        cv2.putText(img, line, (10, y), font, fs, (0, 0, 0), th + 2, cv2.LINE_AA)
        cv2.putText(img, line, (10, y), font, fs, colour, th, cv2.LINE_AA)
    y = h - 12
    cv2.putText(img, NOT_FOR_DIAGNOSTIC_USE, (10, y), font, fs, (0, 0, 0), th + 2, cv2.LINE_AA)
    cv2.putText(img, NOT_FOR_DIAGNOSTIC_USE, (10, y), font, fs, (255, 40, 40), th, cv2.LINE_AA)
    return img, scale


def heatmap_label(entry: Mapping[str, Any]) -> str:
    """The label whose map a capture shows: the most probable flagged subtype, else 'any'."""
    probs = entry.get("probabilities", {})
    subtypes = [lb for lb in entry.get("flagged_labels", []) if lb != "any"]
    if subtypes:
        return max(subtypes, key=lambda lb: probs.get(lb, 0.0))
    return "any"
