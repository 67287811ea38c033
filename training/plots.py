"""ROC and precision-recall curves as PNG, drawn with OpenCV (no matplotlib dependency)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ichviewer.core.labels import LABELS
from training.metrics import average_precision, pr_curve, roc_auc, roc_curve

#: One BGR colour per label, in LABELS order ("any" in black, drawn thicker).
COLOURS = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (0, 0, 0))
W, H, MARGIN = 640, 560, 60


def _canvas(title: str, xlabel: str, ylabel: str) -> tuple[np.ndarray, int, int]:
    img = np.full((H, W, 3), 255, np.uint8)
    side = min(W - 2 * MARGIN - 170, H - 2 * MARGIN)
    x0, y0 = MARGIN, MARGIN + side
    font = cv2.FONT_HERSHEY_SIMPLEX
    for t in np.linspace(0, 1, 6):
        px = int(x0 + t * side)
        py = int(y0 - t * side)
        cv2.line(img, (px, y0), (px, y0 - side), (230, 230, 230), 1)
        cv2.line(img, (x0, py), (x0 + side, py), (230, 230, 230), 1)
        cv2.putText(img, f"{t:.1f}", (px - 12, y0 + 18), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.putText(img, f"{t:.1f}", (x0 - 34, py + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.rectangle(img, (x0, y0 - side), (x0 + side, y0), (0, 0, 0), 1)
    cv2.putText(img, title, (x0, 30), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, (x0 + side // 2 - 40, y0 + 40), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, ylabel, (8, y0 - side - 10), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return img, side, x0


def _polyline(
    img: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    side: int,
    x0: int,
    colour: tuple[int, int, int],
    thick: int,
) -> None:
    y0 = MARGIN + side
    pts = np.stack([x0 + xs * side, y0 - ys * side], 1).round().astype(np.int32)
    cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, colour, thick, cv2.LINE_AA)


def _legend(img: np.ndarray, entries: list[tuple[str, tuple[int, int, int]]]) -> None:
    x = W - 200
    for i, (text, colour) in enumerate(entries):
        y = MARGIN + 20 + 22 * i
        cv2.line(img, (x, y - 4), (x + 20, y - 4), colour, 3)
        cv2.putText(
            img, text, (x + 26, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA
        )


def plot_curves(
    y: np.ndarray, p: np.ndarray, out_dir: str | Path, prefix: str = "test", title: str = ""
) -> list[Path]:
    """Write ``<prefix>_roc.png`` and ``<prefix>_pr.png`` (all six labels) and return them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    roc, side, x0 = _canvas(f"ROC {title}".strip(), "1 - specificity", "sensitivity")
    pr, _, _ = _canvas(f"Precision-recall {title}".strip(), "recall", "precision")
    cv2.line(roc, (x0, MARGIN + side), (x0 + side, MARGIN), (200, 200, 200), 1, cv2.LINE_AA)
    roc_legend, pr_legend = [], []
    for c, name in enumerate(LABELS):
        yc = y[:, c]
        if yc.min() == yc.max():
            continue  # one class only: no curve
        thick = 2 if name == "any" else 1
        fpr, tpr, _ = roc_curve(yc, p[:, c])
        _polyline(roc, fpr, tpr, side, x0, COLOURS[c], thick)
        roc_legend.append((f"{name[:16]} {roc_auc(yc, p[:, c]):.3f}", COLOURS[c]))
        rec, prec, _ = pr_curve(yc, p[:, c])
        _polyline(pr, np.r_[0.0, rec], np.r_[prec[0], prec], side, x0, COLOURS[c], thick)
        pr_legend.append((f"{name[:16]} {average_precision(yc, p[:, c]):.3f}", COLOURS[c]))
    _legend(roc, roc_legend)
    _legend(pr, pr_legend)
    paths = [out_dir / f"{prefix}_roc.png", out_dir / f"{prefix}_pr.png"]
    for path, img in zip(paths, (roc, pr), strict=True):
        if not cv2.imwrite(str(path), img):
            raise OSError(f"could not write {path}")
    return paths
