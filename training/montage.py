"""``python -m training montage``: synthetic phantom slices beside real CT, same window.

The realism check of the generator: rows of phantom slices (generated at 512 x 512 from a
seed, at levels from skull base to vertex) above rows of real slices from folders such as
../shared/data/realct (picked at the same relative levels), all through the viewer's own
windowing (brain 40/80 by default), each tile labelled. Writes one PNG.

``--rim`` also measures what the eye sees least and a network most: the median HU of the
cranial cavity by distance from the inner table (:func:`rim_profile`), for every row, at the
model's input size. Real CT is brighter next to the bone (point-spread tail, beam
hardening); a generator without that teaches that any bright rim is a subdural. With it
comes the rim share (:func:`rim_share`): per slice, the share of the 0-6 mm rim that reads
55-110 HU, vertex slices included, where an obliquely cut table fades into the brain.
"""

from __future__ import annotations

import argparse
import json
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
    p.add_argument(
        "--rim",
        action="store_true",
        help="also write <out>.rim.json: median HU by distance from the inner table, per row",
    )
    p.add_argument(
        "--rim-size",
        type=int,
        default=192,
        help="image size the rim is measured at: real slices resized as the viewer does, "
        "phantoms generated at it (default 192, the bundled model's)",
    )
    return p


#: Distance bins (mm from the inner table) of the rim profile.
RIM_BINS_MM = (0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 12.0)
#: Slices whose cranial cavity is smaller than this (mm^2) are skipped: skull base, vertex.
RIM_MIN_CAVITY_MM2 = 8000.0


#: The rim share: HU that read as blood (not bone) within RIM_SHARE_MM of the inner table,
#: on every slice whose cavity reaches RIM_SHARE_MIN_CAVITY_MM2 (vertex slices included).
RIM_SHARE_MM = 6.0
RIM_SHARE_HU = (55.0, 110.0)
RIM_SHARE_MIN_CAVITY_MM2 = 1500.0


def _cavity(hu: np.ndarray, ps: float) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The cranial cavity (the largest soft-tissue region, < 250 HU, that does not touch the
    image border), each pixel's distance (mm) from the inner table and the cavity's area
    (mm^2), or None when there is no such region."""
    bone = hu > 250
    n, lab, stats, _ = cv2.connectedComponentsWithStats((~bone).astype(np.uint8), connectivity=4)
    h, w = hu.shape
    best, area = 0, 0
    for k in range(1, n):
        x, y, bw, bh, a = stats[k]
        inner = x > 0 and y > 0 and x + bw < w and y + bh < h
        if inner and a > area:
            best, area = k, a
    if best == 0:
        return None
    cav = lab == best
    return cav, cv2.distanceTransform(cav.astype(np.uint8), cv2.DIST_L2, 5) * ps, area * ps * ps


def _share(hu: np.ndarray, cav: np.ndarray, d: np.ndarray) -> float:
    v = hu[cav & (d <= RIM_SHARE_MM)]
    lo, hi = RIM_SHARE_HU
    return float(((v > lo) & (v < hi)).mean())


def _profile(hu: np.ndarray, cav: np.ndarray, d: np.ndarray) -> np.ndarray:
    out = np.full(len(RIM_BINS_MM) - 1, np.nan)
    for i, (lo, hi) in enumerate(zip(RIM_BINS_MM[:-1], RIM_BINS_MM[1:], strict=True)):
        band = cav & (d > lo) & (d <= hi)
        if band.any():
            out[i] = float(np.median(hu[band]))
    return out


def rim_share(hu: np.ndarray, ps: float) -> float | None:
    """Share of the cavity within RIM_SHARE_MM of the inner table whose HU lie in
    RIM_SHARE_HU: what partial volume with an obliquely cut table and the glow next to bone
    make of a normal rim, and what a network may take for a thin extra-axial bleed. None
    when the cavity is smaller than RIM_SHARE_MIN_CAVITY_MM2."""
    found = _cavity(hu, ps)
    if found is None or found[2] < RIM_SHARE_MIN_CAVITY_MM2:
        return None
    return _share(hu, *found[:2])


def rim_profile(hu: np.ndarray, ps: float) -> np.ndarray | None:
    """Median HU of the cranial cavity in each RIM_BINS_MM band from the inner table, or
    None when the slice has no closed skull ring around a cavity of RIM_MIN_CAVITY_MM2.

    hu : float HU slice; ps : its pixel spacing (mm). The cavity is the largest soft-tissue
    region (< 250 HU) that does not touch the image border.
    """
    found = _cavity(hu, ps)
    if found is None or found[2] < RIM_MIN_CAVITY_MM2:
        return None
    return _profile(hu, *found[:2])


def _rim_row(slices: Sequence[tuple[np.ndarray, float]], size: int) -> dict:
    from ichviewer.ai.preprocess import resize_hu

    profiles, shares = [], []
    for hu, ps in slices:
        small = resize_hu(np.asarray(hu, np.float32), size)
        found = _cavity(small, ps * hu.shape[1] / size)  # once for both measures
        if found is None:
            continue
        cav, d, area = found
        if area >= RIM_MIN_CAVITY_MM2:
            profiles.append(_profile(small, cav, d))
        if area >= RIM_SHARE_MIN_CAVITY_MM2:
            shares.append(_share(small, cav, d))
    share = [round(float(v), 3) for v in np.percentile(shares, [50, 90])] if shares else None
    if not profiles:
        return {"slices": 0, "median_hu": None, "rim_share_median_p90": share}
    med = np.nanmedian(np.array(profiles), axis=0)
    return {
        "slices": len(profiles),
        "median_hu": [round(float(v), 1) for v in med],
        "rim_share_median_p90": share,
    }


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
    rim: dict[str, dict] = {}
    for k in range(args.studies):
        study = generate_study(args.seed, k, size=512)
        name = f"phantom {args.seed}/{k}"
        rows.append(_row(study.hu_as_read(), name, window))
        if args.rim:
            small = generate_study(args.seed, k, size=args.rim_size)
            normal = [
                (hu, small.pixel_spacing)
                for hu, y in zip(small.hu, small.labels[:, -1], strict=True)
                if not y  # slices without blood: the rim of a normal head
            ]
            rim[name] = _rim_row(normal, args.rim_size)
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
        if args.rim:
            refs = [s for s in found.series if s.n_slices and s.pixel_spacing]
            rim[Path(folder).name] = _rim_row(
                [
                    (SeriesReader(s).slice(i), s.pixel_spacing[1])
                    for s in refs
                    for i in range(s.n_slices)
                ],
                args.rim_size,
            )
    if not rows:
        raise SystemExit("nothing to show: --studies 0 and no --real folder")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), np.vstack(rows)):
        raise SystemExit(f"could not write {out}")
    logger.info("montage of %d rows written to %s", len(rows), out)
    if args.rim:
        _write_rim(out.with_suffix(".rim.json"), rim, args.rim_size)
    return out


def _write_rim(path: Path, rim: dict[str, dict], size: int) -> None:
    bands = [f"{lo:g}-{hi:g}" for lo, hi in zip(RIM_BINS_MM[:-1], RIM_BINS_MM[1:], strict=True)]
    doc = {"size": size, "bands_mm": bands, "rows": rim}
    path.write_text(json.dumps(doc, indent=1))
    logger.info("median HU by distance from the inner table (mm), at %d px:", size)
    logger.info("%-22s %6s  %s", "row", "slices", " ".join(f"{b:>7}" for b in bands))
    for name, r in rim.items():
        vals = r["median_hu"] or [float("nan")] * len(bands)
        logger.info("%-22s %6d  %s", name, r["slices"], " ".join(f"{v:7.1f}" for v in vals))
    lo, hi = RIM_SHARE_HU
    logger.info(
        "share of the 0-%g mm rim at %g-%g HU per slice (median, p90):", RIM_SHARE_MM, lo, hi
    )
    for name, r in rim.items():
        logger.info("%-22s %s", name, r.get("rim_share_median_p90"))
    logger.info("written to %s", path)


def register(subparsers) -> None:  # noqa: ANN001
    from training.commands import _sub

    _sub(
        subparsers, "montage", get_args_parser, "phantom slices beside real CT (realism check)"
    ).set_defaults(func=lambda a: 0 if main(a) else 1)
