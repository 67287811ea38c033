"""``python -m training eval``: test metrics, curves and real-CT flag counts of a trained model.

Reads a training ``checkpoint.pth`` (or a viewer checkpoint), rebuilds the same patient
split from the arguments stored in it (overridable), chooses the per-label operating
thresholds on the validation split (unless the checkpoint already holds them), and writes
``metrics.json`` plus ROC / PR curves of the test split to ``--output-dir``. ``--realct``
folders (believed negative, no labels) are scored slice by slice and their flag counts added.

Unless ``--no-context``, it also fits the series-context stage (training.context) on the
validation split's outputs and chooses the operating thresholds on its revised
probabilities: ``val`` / ``test`` / ``realct`` then describe what the viewer shows, and
``val_slice_only`` / ``test_slice_only`` / ``realct_slice_only`` the network on each slice
alone. ``slice_context`` holds the stage for ``export``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ichviewer.ai.network import DenseNetCAM, build_model
from ichviewer.ai.preprocess import PreprocessSpec, preprocess_batch
from ichviewer.core.heap import keep_freed_memory
from ichviewer.core.labels import LABELS
from ichviewer.core.slice_context import SliceContext
from ichviewer.core.triage import flagged_mask
from ichviewer.errors import DicomReadError
from training.context import apply_by_series, fit_context
from training.data import SplitData, make_splits
from training.engine import CachedSlices, amp_dtype, evaluate
from training.masks import counted_positives
from training.metrics import (
    CONSPICUOUS_MM2,
    DEFAULT_MIN_SENSITIVITY,
    MAX_STUDY_THRESHOLD,
    MAX_THRESHOLD,
    choose_threshold,
    choose_thresholds,
    study_metrics,
    study_scores,
    summarize,
)
from training.options import eval_parser as get_args_parser  # noqa: F401 (re-exported)
from training.plots import plot_curves

logger = logging.getLogger("training")

CONTEXT_RULE = (
    "series context: each slice's probabilities revised with the network's on the slices "
    "{mm} away (per-label logistic regression on {seen} logits, mean and max of the two "
    "sides, L2 {l2:g}), fitted on the validation split; thresholds chosen on its revised outputs"
)

STUDY_RULE = (
    "study-level: a study's P(any) is its largest slice P(any) (as shown, series context "
    "included); threshold chosen on the validation studies: the highest one reaching study "
    "sensitivity >= {sens:.2f}, raised if need be to keep study specificity >= {spec:.2f}, "
    "capped at {cap}"
)

THRESHOLD_RULE = (
    "chosen on the validation split: the highest threshold reaching sensitivity >= "
    f"{DEFAULT_MIN_SENSITIVITY['any']:.2f} for 'any' and >= "
    f"{DEFAULT_MIN_SENSITIVITY['subdural']:.2f} for each subtype, counted on the slices "
    f"where that label's blood covers >= {CONSPICUOUS_MM2:g} mm^2, raised if need be to "
    "keep specificity >= {spec:.2f} (the false-alarm budget wins), "
    f"capped at {MAX_THRESHOLD}"
)


def load_model(path: str | Path) -> tuple[DenseNetCAM, PreprocessSpec, dict[str, Any]]:
    """Model, spec and the rest of a training checkpoint (weights_only=True; a viewer
    checkpoint goes through ichviewer.ai's validating reader)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "format" in state:
        from ichviewer.ai.checkpoint import load_checkpoint

        ck = load_checkpoint(path)
        return ck.model, ck.spec, {"thresholds": ck.thresholds, "args": {}, "card": ck.card}
    model = build_model(state["arch"], num_classes=len(LABELS), **state["arch_kwargs"])
    model.load_state_dict(state["model"])
    model.imagenet_init = bool(state.get("imagenet_init", False))
    model.eval()
    return model, PreprocessSpec.from_dict(state["preprocess"]), state


def predict_cached(
    model: torch.nn.Module,
    ds: CachedSlices,
    spec: PreprocessSpec,
    device: torch.device,
    batch_size: int,
    autocast: torch.dtype | None,
    progress: bool,
    desc: str,
    mirror: bool = False,
) -> np.ndarray:
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0)
    # channels_last, as the viewer's predictor runs it: on the CPU 2x the speed of the
    # default layout for this DenseNet in float32, the same probabilities to 1e-6
    idx, p = evaluate(
        model,
        loader,
        device,
        spec,
        autocast=autocast,
        channels_last=True,
        progress=progress,
        desc=desc,
        mirror=mirror,
    )
    out = np.zeros_like(p)
    out[idx] = p
    return out


@torch.inference_mode()
def score_folder(
    model: torch.nn.Module,
    spec: PreprocessSpec,
    folder: str | Path,
    device: torch.device,
    batch_size: int = 16,
    mirror: bool = False,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Probabilities (n_slices, 6) of every slice of every series under ``folder``, decoded
    and preprocessed exactly as the viewer does, with each slice's series UID and position
    (for the series-context stage)."""
    from ichviewer.io import decode_hu, scan

    result = scan(folder)
    refs = [(s.series_instance_uid, ref) for s in result.series for ref in s.slices]
    probs: list[np.ndarray] = []
    kept: list[tuple[str, float]] = []
    model.eval()
    for i in range(0, len(refs), batch_size):
        hus = []
        for uid, ref in refs[i : i + batch_size]:
            try:
                hus.append(decode_hu(ref))
                kept.append((uid, float(ref.position_mm)))
            except DicomReadError as exc:
                logger.warning("skipping %s: %s", exc.file, exc.reason)
        if hus:
            x = preprocess_batch(hus, spec).to(device).contiguous(memory_format=torch.channels_last)
            logits = model(x, mirror=True) if mirror else model(x)
            probs.append(torch.sigmoid(logits.float()).cpu().numpy())
    p = np.concatenate(probs) if probs else np.zeros((0, len(LABELS)), np.float32)
    return p, [u for u, _ in kept], np.array([z for _, z in kept], dtype=np.float64)


def split_series(split: SplitData) -> tuple[list[str], np.ndarray]:
    """Each slice's series UID and position along the normal (the stage's grouping)."""
    return [e.series for e in split.entries], np.array(
        [e.ref.position_mm for e in split.entries], dtype=np.float64
    )


def flag_counts(p: np.ndarray, thresholds: dict[str, float]) -> dict[str, Any]:
    """How many slices cross each label's threshold, how many score above 0.5 for 'any'
    (a count that does not move with the threshold rule), and the median and largest
    probabilities."""
    flagged = flagged_mask(p, [thresholds[n] for n in LABELS])

    def stat(f: Any) -> dict[str, float | None]:
        return {n: round(float(f(p[:, c])), 4) if len(p) else None for c, n in enumerate(LABELS)}

    return {
        "slices": int(len(p)),
        "flagged_any": int(flagged[:, -1].sum()) if len(p) else 0,
        "over_half_any": int((p[:, -1] > 0.5).sum()) if len(p) else 0,
        "flagged_by_label": {n: int(flagged[:, c].sum()) for c, n in enumerate(LABELS)},
        "median_probability": stat(np.median),
        "max_probability": stat(np.max),
    }


def studies_flagged(series: list[str], p: np.ndarray, threshold: float) -> dict[str, Any]:
    """How many series (studies) reach the study-level threshold, and their P(any)."""
    a = LABELS.index("any")
    _, scores = study_scores(series, np.zeros(len(p)), p[:, a]) if len(p) else (None, [])
    return {
        "studies": int(len(scores)),
        "studies_flagged": int(sum(float(s) >= threshold for s in scores)),
        "study_probability_median": round(float(np.median(scores)), 4) if len(scores) else None,
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate and write metrics.json (+ curves); returns the metrics dict."""
    from training.cache import build_cache
    from training.data import load_labelled
    from training.train import default_cache_dir, setup_logging

    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    ckpt_path = Path(args.checkpoint)
    out = Path(args.output_dir) if args.output_dir else ckpt_path.parent / "eval"
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(None, True)
    model, spec, state = load_model(ckpt_path)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    model.to(device)
    autocast = amp_dtype(args.amp, device)
    fit_args = dict(state.get("args") or {})
    pick = {
        k: getattr(args, k) if getattr(args, k, None) is not None else fit_args.get(k)
        for k in ("data", "labels", "test_data", "test_labels", "split", "split_seed")
    }
    cache_dir = args.cache_dir or fit_args.get("cache_dir") or default_cache_dir()
    metrics: dict[str, Any] = {"checkpoint": str(ckpt_path), "preprocess": spec.to_dict()}
    thresholds = dict(state.get("thresholds") or {})
    context: SliceContext | None = None

    if pick["data"]:
        data = load_labelled(pick["data"], cache_dir, pick["labels"])
        test = (
            load_labelled(pick["test_data"], cache_dir, pick["test_labels"])
            if pick["test_data"]
            else None
        )
        splits = make_splits(data, pick["split"] or (0.8, 0.1, 0.1), pick["split_seed"] or 0, test)
        metrics["splits"] = {k: v.summary() for k, v in splits.items()}
        probs: dict[str, np.ndarray] = {}
        for name in ("val", "test"):
            if len(splits[name]) == 0:
                continue
            cache = build_cache([e.ref for e in splits[name].entries], spec, cache_dir, name=name)
            probs[name] = predict_cached(
                model,
                CachedSlices(cache, splits[name].labels),
                spec,
                device,
                args.batch_size,
                autocast,
                args.progress,
                name,
                mirror=args.mirror_average,
            )
        counted = (
            counted_positives(pick["data"], [e.ref for e in splits["val"].entries])
            if "val" in probs
            else None
        )
        budget = {"counted": counted, "min_specificity": args.specificity}
        if "val" in probs and (args.rechoose_thresholds or not thresholds):
            thresholds = choose_thresholds(splits["val"].labels, probs["val"], **budget)
        if args.context and "val" in probs:
            context = fit_context(
                probs["val"],
                splits["val"].labels,
                *split_series(splits["val"]),
                distances_mm=args.context_mm,
                l2=args.context_l2,
                labels_seen=args.context_labels,
            )
            for name, p in list(probs.items()):
                metrics[f"{name}_slice_only"] = summarize(
                    splits[name].labels, p, thresholds or None
                )
                probs[name] = apply_by_series(context, p, *split_series(splits[name]))
            slice_thresholds = thresholds
            thresholds = choose_thresholds(splits["val"].labels, probs["val"], **budget)
            metrics["slice_context"] = context.to_dict()
            metrics["slice_thresholds"] = slice_thresholds
            metrics["context_rule"] = CONTEXT_RULE.format(
                mm=" and ".join(f"±{d:g} mm" for d in context.distances_mm),
                l2=args.context_l2,
                seen="its own" if args.context_labels == "own" else "all labels'",
            )
        for name, p in probs.items():
            metrics[name] = summarize(splits[name].labels, p, thresholds or None)
        if "val" in probs:
            a = LABELS.index("any")
            yv, pv = study_scores(
                split_series(splits["val"])[0], splits["val"].labels[:, a], probs["val"][:, a]
            )
            study_thr = choose_threshold(
                yv,
                pv,
                min_sensitivity=args.study_sensitivity,
                max_threshold=MAX_STUDY_THRESHOLD,
                min_specificity=args.study_specificity,
            )
            metrics["study"] = {
                "threshold": study_thr,
                "rule": STUDY_RULE.format(
                    sens=args.study_sensitivity,
                    spec=args.study_specificity,
                    cap=MAX_STUDY_THRESHOLD,
                ),
                "val": study_metrics(yv, pv, study_thr),
            }
            if "test" in probs:
                yt, pt = study_scores(
                    split_series(splits["test"])[0],
                    splits["test"].labels[:, a],
                    probs["test"][:, a],
                )
                metrics["study"]["test"] = study_metrics(yt, pt, study_thr)
        if "test" in probs:
            curves = plot_curves(splits["test"].labels, probs["test"], out, "test", "(test split)")
            metrics["curves"] = [c.name for c in curves]
    if not thresholds:
        thresholds = dict.fromkeys(LABELS, 0.5)
        logger.warning("no validation split and no stored thresholds: using 0.5 for every label")
    metrics["thresholds"] = thresholds
    metrics["threshold_rule"] = THRESHOLD_RULE.format(spec=args.specificity)
    metrics["min_sensitivity"] = DEFAULT_MIN_SENSITIVITY
    metrics["mirror_average"] = bool(args.mirror_average)
    study_thr = (metrics.get("study") or {}).get("threshold", thresholds["any"])
    if args.realct:
        metrics["realct"] = {}
        if context is not None:
            metrics["realct_slice_only"] = {}
        for folder in args.realct:
            name = Path(folder).name
            p, series, positions = score_folder(
                model, spec, folder, device, mirror=args.mirror_average
            )
            if context is not None:
                metrics["realct_slice_only"][name] = flag_counts(p, metrics["slice_thresholds"])
                p = apply_by_series(context, p, series, positions)
                metrics["realct"][name] = flag_counts(p, thresholds)
                metrics["realct"][name]["series"] = len(set(series))
            else:
                metrics["realct"][name] = flag_counts(p, thresholds)
            metrics["realct"][name].update(studies_flagged(series, p, study_thr))
            logger.info(
                "real CT %s: %d of %d slices flagged 'any'",
                name,
                metrics["realct"][name]["flagged_any"],
                len(p),
            )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    test = metrics.get("test")
    if test:
        logger.info(
            "test: weighted log loss %.4f, AUC %s",
            test["weighted_log_loss"],
            {k: v["auc"] for k, v in test["labels"].items()},
        )
    return metrics
