"""``python -m training cam-check``: does the heatmap sit on the lesion, and which lesions
does the model miss?

For synthetic studies with their lesion masks (the demo study's ``masks.npz``, studies
generated from a seed, or a set ``synth`` wrote, via its ``masks/``), scores every slice
with a checkpoint, and for every slice that holds a subtype reports whether the peak of
that label's class activation map lies on the lesion (within ``--tolerance-mm`` of a
lesion pixel), and what share of the map's mass above half its peak falls there. It also
reports each label's ROC AUC with the positive slices binned by the lesion's area on the
slice (every negative slice in each bin), which tells small-lesion misses from a model
that is weak everywhere; ``--worst N`` lists the missed positives and the false alarms
themselves, with each lesion's area and thickness. Prints tables and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from ichviewer.core.labels import LABELS, SUBTYPES
from training.masks import MASKS_DIR, lesion_areas, read_study_masks

logger = logging.getLogger("training")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Heatmap localisation on synthetic studies with lesion masks.",
        add_help=add_help,
    )
    p.add_argument("--model", help="viewer checkpoint (default: the bundled model)")
    p.add_argument("--study", help="a study folder with masks.npz (default: the demo study) ...")
    p.add_argument("--seed", type=int, default=None, help="... or synthetic studies from this seed")
    p.add_argument(
        "--data", help="... or a set written by `synth` (e.g. the bundled build's test split)"
    )
    p.add_argument(
        "--studies", type=int, default=None, help="how many with --seed (10) or --data (all)"
    )
    p.add_argument(
        "--worst",
        type=int,
        default=0,
        metavar="N",
        help="also list the N lowest-scored positive and N highest-scored negative slices "
        "for 'any', with each lesion's area and thickness (error analysis)",
    )
    p.add_argument("--tolerance-mm", type=float, default=10.0, help="peak-to-lesion tolerance (mm)")
    return p


def _study(folder: Path, by_uid: dict[str, np.ndarray] | None = None):  # noqa: ANN202
    """(name, HU volume, masks, pixel spacing) of a synthetic study folder; masks come from
    ``by_uid`` (SOPInstanceUID -> bitmask) or from a masks.npz here or one level up."""
    from ichviewer.io import SeriesReader, scan

    series = scan([folder]).best_series()
    if series is None:
        raise SystemExit(f"{folder}: no image series")
    if by_uid is None:
        npz = next(
            (d / "masks.npz" for d in (folder, folder.parent) if (d / "masks.npz").is_file()),
            None,
        )
        if npz is None:
            raise SystemExit(
                f"{folder}: no masks.npz here or one level up (synthetic studies only)"
            )
        by_uid = read_study_masks(npz)
    missing = [Path(s.source).name for s in series.slices if s.sop_instance_uid not in by_uid]
    if missing:
        raise SystemExit(f"{folder}: no lesion mask for {len(missing)} slices ({missing[0]}, ...)")
    masks = np.stack([by_uid[s.sop_instance_uid] for s in series.slices])
    hu = SeriesReader(series).load_all()
    return folder.name, hu, masks, float(series.pixel_spacing[0])


def _data_set(root: Path, limit: int | None):  # noqa: ANN202
    """The studies of a set written by ``synth`` (its masks/ folder), as :func:`_study`."""
    files = sorted((root / MASKS_DIR).glob("*.npz"))
    if not files:
        raise SystemExit(
            f"{root}: no {MASKS_DIR}/*.npz (a set written by `python -m training synth`)"
        )
    for path in files[:limit]:
        yield _study(root / path.stem, read_study_masks(path))


#: Lesion area bins (mm^2 on the slice) of the detection table.
AREA_BINS: tuple[tuple[float, float], ...] = ((0, 20), (20, 60), (60, 200), (200, math.inf))


def detection_by_area(probs: np.ndarray, areas: np.ndarray) -> dict[str, list[dict]]:
    """Per label: AUC of all positives (slices where the label has area), then of the
    positives in each area bin, each against every negative slice (None where a bin has no
    positives or there are no negatives)."""
    out: dict[str, list[dict]] = {}
    for j, lb in enumerate(LABELS):
        y, p, a = areas[:, j] > 0, probs[:, j], areas[:, j]
        rows = [{"bin": "all", "positives": int(y.sum()), "auc": _auc(y, p)}]
        for lo, hi in AREA_BINS:
            sel = ~y | ((a >= lo) & (a < hi))
            rows.append(
                {
                    "bin": f"{lo:g}-{hi:g} mm2" if math.isfinite(hi) else f">={lo:g} mm2",
                    "positives": int((y & sel).sum()),
                    "auc": _auc(y[sel], p[sel]),
                }
            )
        out[lb] = rows
    return out


def lesion_thickness(masks: np.ndarray, spacing: float) -> np.ndarray:
    """(N, 6) thickness in mm of each label on each slice: the side of the largest square
    of pixels that fits inside its blood (0 where absent; 'any': the union). A long sliver
    can have a large area and still be one pixel thick, which area alone does not tell."""
    n = len(masks)
    out = np.zeros((n, len(LABELS)), np.float64)
    for i, m in enumerate(masks):
        for j in range(len(LABELS)):
            blob = ((m > 0) if j == len(SUBTYPES) else (m >> j) & 1).astype(np.uint8)
            k = 0  # eroding by a (k+1)-pixel square leaves blood <=> such a square fits
            while cv2.erode(blob, np.ones((k + 1, k + 1), np.uint8), borderValue=0).any():
                k += 1
            out[i, j] = k
    return out * spacing


def worst_slices(
    probs: np.ndarray, areas: np.ndarray, thick: np.ndarray, where: list, n: int
) -> dict[str, list[dict]]:
    """The ``n`` positive slices with the lowest p(any) and the ``n`` negative slices with
    the highest, each with its study, 0-based slice, p(any) and, for positives, the area
    (mm^2) and thickness (mm) of every subtype on it."""
    y = areas[:, -1] > 0
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    low = pos[np.argsort(probs[pos, -1], kind="stable")][:n]
    high = neg[np.argsort(-probs[neg, -1], kind="stable")][:n]

    def row(i: int) -> dict:
        r = {"study": where[i][0], "slice": where[i][1], "p_any": round(float(probs[i, -1]), 4)}
        r["lesions"] = {
            lb: {
                "area_mm2": round(float(areas[i, j]), 1),
                "thickness_mm": round(float(thick[i, j]), 1),
            }
            for j, lb in enumerate(SUBTYPES)
            if areas[i, j] > 0
        }
        if not r["lesions"]:
            j = int(np.argmax(probs[i, : len(SUBTYPES)]))
            r["top_subtype"] = {SUBTYPES[j]: round(float(probs[i, j]), 4)}
        return r

    return {"missed_positives": [row(i) for i in low], "false_alarms": [row(i) for i in high]}


def _print_worst(worst: dict[str, list[dict]]) -> None:
    print("\nLowest-scored positive slices (p any; subtype area mm2 / thickness mm)")
    for r in worst["missed_positives"]:
        les = ", ".join(
            f"{lb} {v['area_mm2']:g} / {v['thickness_mm']:g}" for lb, v in r["lesions"].items()
        )
        print(f"  {r['study']:>12s} slice {r['slice']:3d}  p {r['p_any']:.3f}  {les}")
    print("Highest-scored negative slices (p any; highest subtype)")
    for r in worst["false_alarms"]:
        ((lb, v),) = r["top_subtype"].items()
        print(f"  {r['study']:>12s} slice {r['slice']:3d}  p {r['p_any']:.3f}  {lb} {v:.3f}")


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from training.metrics import roc_auc

    auc = roc_auc(y, p)  # NaN with one class only
    return None if math.isnan(auc) else round(auc, 4)


def localisation(results, masks, spacing: float, tol_mm: float) -> dict[str, list]:  # noqa: ANN001
    """Per subtype: (peak on lesion, mass share near lesion) for each slice holding it,
    from the predictor's results (with CAMs) of the slices."""
    out: dict[str, list] = {lb: [] for lb in SUBTYPES}
    r = max(1, int(round(tol_mm / spacing)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    for res, m in zip(results, masks, strict=True):
        for bit, lb in enumerate(SUBTYPES):
            lesion = ((m >> bit) & 1).astype(np.uint8)
            if not lesion.any():
                continue
            near = cv2.dilate(lesion, kernel).astype(bool)
            cam = res.cam(lb)
            peak = np.unravel_index(int(np.argmax(cam)), cam.shape)
            hot = cam >= 0.5
            share = float(near[hot].mean()) if hot.any() else 0.0
            out[lb].append((bool(near[peak]), share))
    return out


def main(args: argparse.Namespace) -> dict:
    from ichviewer.ai.predictor import Predictor
    from ichviewer.paths import bundled_model_path, demo_study_path

    predictor = Predictor(args.model or bundled_model_path())
    rows: dict[str, list] = {lb: [] for lb in SUBTYPES}
    if args.data:
        studies = _data_set(Path(args.data), args.studies)
    elif args.seed is None:
        studies = [_study(Path(args.study) if args.study else demo_study_path())]
    else:
        from training.synthetic import generate_study

        studies = []
        for k in range(args.studies or 10):
            s = generate_study(args.seed, k, size=512)
            studies.append((f"seed {args.seed}/{k}", s.hu_as_read(), s.masks, s.pixel_spacing))
    probs, areas, thick, where = [], [], [], []
    for name, hu, masks, spacing in studies:
        results = predictor.predict(list(hu), want_cam=True)
        for lb, v in localisation(results, masks, spacing, args.tolerance_mm).items():
            rows[lb] += v
        probs.append(np.stack([r.probabilities for r in results]))
        areas.append(lesion_areas(masks, spacing))
        thick.append(lesion_thickness(masks, spacing))
        where += [(name, i) for i in range(len(masks))]
    summary = {"model": predictor.name, "sha256": predictor.sha256[:16], "labels": {}}
    print(f"{'label':18s} slices  peak on lesion  hot mass near lesion")
    for lb in SUBTYPES:
        v = rows[lb]
        if not v:
            continue
        hits = sum(h for h, _ in v)
        share = float(np.mean([s for _, s in v]))
        summary["labels"][lb] = {
            "slices": len(v),
            "peak_on_lesion": hits,
            "hot_share": round(share, 3),
        }
        print(f"{lb:18s} {len(v):6d}  {hits:3d} ({hits / len(v):5.0%})     {share:5.0%}")
    probs, areas = np.concatenate(probs), np.concatenate(areas)
    by_area = detection_by_area(probs, areas)
    summary["auc_by_lesion_area"] = by_area
    print("\nROC AUC, positives binned by lesion area on the slice (n positives); all negatives")
    print(f"{'label':18s} " + "  ".join(f"{r['bin']:>16s}" for r in by_area["any"]))
    for lb, cells in by_area.items():
        txt = [
            f"{'-' if r['auc'] is None else format(r['auc'], '.3f'):>9s} ({r['positives']:4d})"
            for r in cells
        ]
        print(f"{lb:18s} " + "  ".join(f"{t:>16s}" for t in txt))
    if args.worst:
        summary["worst"] = worst_slices(probs, areas, np.concatenate(thick), where, args.worst)
        _print_worst(summary["worst"])
    print(json.dumps(summary))
    return summary


def register(subparsers) -> None:  # noqa: ANN001
    from training.commands import _sub

    _sub(
        subparsers,
        "cam-check",
        get_args_parser,
        "does the heatmap sit on the lesion (synthetic studies with masks)",
    ).set_defaults(func=lambda a: 0 if main(a) is not None else 1)
