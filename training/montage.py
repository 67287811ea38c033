"""``python -m training montage``: synthetic phantom slices beside real CT, same window.

The realism check of the generator: rows of phantom slices (generated at 512 x 512 from a
seed, at levels from skull base to vertex) above rows of real slices from folders such as
../shared/data/realct (picked at the same relative levels), all through the viewer's own
windowing (brain 40/80 by default), each tile labelled. Writes one PNG.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ichviewer.core.windowing import apply_window, get_window, to_uint8

logger = logging.getLogger("training")

#: Relative levels (0 = most inferior slice, 1 = vertex) shown for every study.
LEVELS = (0.12, 0.3, 0.5, 0.7, 0.88)
TILE = 256


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Phantom slices beside real CT slices in one window (realism check).",
        add_help=add_help,
    )
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--real", nargs="*", default=[], help="real CT folders (one row each)")
    p.add_argument("--seed", type=int, default=1000, help="generator seed of the phantoms")
    p.add_argument("--studies", type=int, default=2, help="phantom studies (one row each)")
    p.add_argument("--window", default="brain", help="brain|subdural|bone or C/W, e.g. 40/80")
    return p


def _window(spec: str):  # noqa: ANN202
    if "/" in spec:
        c, w = (float(v) for v in spec.split("/"))
        return get_window((c, w))
    return get_window(spec)


def _tile(hu: np.ndarray, window, label: str) -> np.ndarray:  # noqa: ANN001
    img = to_uint8(apply_window(hu, window))
    img = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    cv2.putText(img, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 200, 255), 1, cv2.LINE_AA)
    return img


def _row(volume: Sequence[np.ndarray], name: str, window) -> np.ndarray:  # noqa: ANN001
    n = len(volume)
    tiles = []
    for lv in LEVELS:
        i = min(n - 1, int(round(lv * (n - 1))))
        tiles.append(_tile(np.asarray(volume[i], np.float32), window, f"{name} {i + 1}/{n}"))
    return np.hstack(tiles)


def main(args: argparse.Namespace) -> Path:
    from ichviewer.io import SeriesReader, scan
    from training.synthetic import generate_study

    window = _window(args.window)
    rows = []
    for k in range(args.studies):
        study = generate_study(args.seed, k, size=512)
        rows.append(_row(study.hu_as_read(), f"phantom {args.seed}/{k}", window))
    for folder in args.real:
        found = scan([folder])
        best = found.best_series()
        if best is None:
            logger.warning("%s: no image series, skipped", folder)
            continue
        if best.n_slices >= len(LEVELS):
            volume = list(SeriesReader(best).load_all())
        else:  # single-slice series (the RSNA layout): one slice from each, by position
            picks = sorted(
                (s for s in found.series if s.n_slices and (s.rows, s.columns) == (512, 512)),
                key=lambda s: s.slices[0].position_mm,
            )
            volume = [SeriesReader(s).slice(0) for s in picks]
        rows.append(_row(volume, Path(folder).name, window))
    if not rows:
        raise SystemExit("nothing to show: --studies 0 and no --real folder")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), np.vstack(rows)):
        raise SystemExit(f"could not write {out}")
    logger.info("montage of %d rows written to %s", len(rows), out)
    return out


def register(subparsers) -> None:  # noqa: ANN001
    from training.commands import _sub

    _sub(
        subparsers, "montage", get_args_parser, "phantom slices beside real CT (realism check)"
    ).set_defaults(func=lambda a: 0 if main(a) else 1)
