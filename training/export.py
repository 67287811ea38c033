"""``python -m training export``: a training checkpoint -> the viewer's checkpoint file.

Writes through ichviewer.ai's ``save_checkpoint`` (the one writer the viewer's strict reader
is tested against) with the operating thresholds and a model card: training data, split
sizes, test metrics, the exact commands, the date, ImageNet-or-scratch initialisation and
"not for diagnostic use". The written file is read back with ``load_checkpoint`` before the
command reports success.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from ichviewer.core.labels import LABELS
from training import ensemble
from training.options import export_parser as get_args_parser  # noqa: F401 (re-exported)

logger = logging.getLogger("training")

#: Files a synthetic data folder may describe itself in (written by `training synth`).
SYNTH_MANIFESTS = ("synth.json", "manifest.json", "dataset.json")


def _manifest(folder: str | None) -> dict[str, Any] | None:
    if not folder:
        return None
    for name in SYNTH_MANIFESTS:
        p = Path(folder) / name
        if p.is_file():
            try:
                return json.loads(p.read_text())
            except ValueError:
                return None
    return None


def describe_data(fit_args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(one line for the card, details) from the fit arguments and any synth manifests."""
    train_m, test_m = _manifest(fit_args.get("data")), _manifest(fit_args.get("test_data"))
    details: dict[str, Any] = {
        "data": Path(fit_args["data"]).name if fit_args.get("data") else None,
        "test_data": Path(fit_args["test_data"]).name if fit_args.get("test_data") else None,
        "split_fractions": fit_args.get("split"),
        "split_seed": fit_args.get("split_seed"),
        "split_by": "patient",
    }
    if train_m is not None or test_m is not None:
        details["synthetic_train"] = train_m
        details["synthetic_test"] = test_m
        line = "synthetic head-CT phantoms from training.synthetic (no real CT)"
        seeds = [m.get("seed") for m in (train_m, test_m) if m and "seed" in m]
        counts = [m.get("studies") for m in (train_m, test_m) if m and "studies" in m]
        if seeds:
            line += f"; generator seeds {seeds}, studies {counts} (train+val, test)"
        return line, details
    labels = str(fit_args.get("labels") or "")
    if "stage_2" in labels or "stage_1" in labels:
        return "RSNA 2019 Intracranial Hemorrhage Detection (" + Path(labels).name + ")", details
    return f"DICOM folder {details['data']} with labels", details


def supervision(fit_args: dict[str, Any], arch_kwargs: dict[str, Any]) -> str:
    """How the network was taught, in a sentence for the card."""
    pool = arch_kwargs.get("pool", "avg")
    line = "slice labels (weighted BCE), " + (
        "log-sum-exp pooling of each label's activation map"
        if pool == "lse"
        else "global average pooling"
    )
    weight = float(fit_args.get("mask_loss") or 0.0)
    if weight > 0:
        line += (
            f", plus {weight:g} x a per-cell BCE of each label's activation map against the "
            "generator's lesion masks (synthetic slices only; the heatmap is trained to sit "
            "on the lesion)"
        )
    return line


def build_card(
    state: dict[str, Any], metrics: dict[str, Any] | None, command: str, training_data: str | None
) -> dict[str, Any]:
    """The card fields beyond ichviewer.ai's model_card defaults."""
    fit_args = dict(state.get("args") or {})
    line, details = describe_data(fit_args)
    imagenet = bool(state.get("imagenet_init"))
    test = (metrics or {}).get("test") or {}
    card: dict[str, Any] = {
        "training_data": training_data or line,
        "data": details,
        "splits": (metrics or {}).get("splits") or state.get("splits") or {},
        "metrics": {
            "test": test,
            "val": (metrics or {}).get("val") or state.get("val_metrics") or {},
            "realct": (metrics or {}).get("realct") or {},
            **{
                k: metrics[k]
                for k in ("test_slice_only", "val_slice_only", "realct_slice_only")
                if k in (metrics or {})
            },
        },
        "thresholds_rule": (metrics or {}).get("threshold_rule", "chosen on the validation split"),
        "series_context": (metrics or {}).get("context_rule")
        or "none: each slice is scored on its own",
        "initialisation": "ImageNet (torchvision DenseNet weights)"
        if imagenet
        else "random (trained from scratch; no ImageNet weights were available offline)",
        "arch": state.get("arch"),
        "arch_kwargs": state.get("arch_kwargs"),
        "supervision": supervision(fit_args, state.get("arch_kwargs") or {}),
        **({"ensemble": ensemble.describe(state)} if state.get("members") else {}),
        "epochs": int(state.get("epoch", -1)) + 1,
        "training_time_s": (metrics or {}).get("training_time_s"),
        **({"hardware": state["hardware"]} if state.get("hardware") else {}),
        "fit_args": {
            k: v
            for k, v in fit_args.items()
            if k not in ("resume", "progress", "func", "cache_dir", "output_dir")
        },
        "command": command,
        "date": dt.date.today().isoformat(),
    }
    real = card["metrics"]["realct"]
    if real:
        card["real_ct_check"] = (
            "; ".join(
                f"{name}: {v['flagged_any']} of {v['slices']} slices flagged 'any'"
                + (f", {v['over_half_any']} with p(any) > 0.5" if "over_half_any" in v else "")
                for name, v in real.items()
            )
            + " (real head CT believed negative: every flag is a false alarm)"
        )
    if "synthetic" in card["training_data"].lower():
        card["limitations"] = (
            "Trained and tested only on synthetic phantoms: the numbers say how well it finds "
            "the generator's hemorrhages, not how it behaves on real CT"
            + (
                f" (on real CT believed negative: {card['real_ct_check'].split(' (')[0]})."
                if real
                else "."
            )
        )
    return card


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Write the viewer checkpoint; returns {"path", "sha256", "card"}."""
    import torch

    from ichviewer.ai.checkpoint import load_checkpoint, save_checkpoint
    from training.evaluate import load_model

    ckpt = Path(args.checkpoint)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    if "format" in state:
        raise ValueError(
            f"{ckpt} is already a viewer checkpoint; export takes a training checkpoint.pth"
        )
    metrics_path = Path(args.metrics) if args.metrics else ckpt.parent / "eval" / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    if metrics is None:
        logger.warning("no metrics file (%s): the card will have no test metrics", metrics_path)
    thresholds = (metrics or {}).get("thresholds") or state.get("thresholds")
    if not thresholds:
        raise ValueError(
            f"{ckpt} has no thresholds and no metrics.json gives them: run "
            "`python -m training eval` first (or let fit finish)"
        )
    command = args.command or " ".join(
        shlex.quote(a) for a in ["python", "-m", "training", *sys.argv[1:]]
    )
    model, spec, _ = load_model(ckpt)
    card = build_card(state, metrics, command, args.training_data)
    card.update(name=args.name, version=args.version)
    if args.provenance:
        card["provenance"] = args.provenance
    out = Path(args.out)
    context = (metrics or {}).get("slice_context")
    extra: dict[str, Any] = {}
    if context:
        from ichviewer.core.slice_context import SliceContext

        extra = {
            "slice_context": SliceContext.from_dict(context),
            "slice_thresholds": metrics["slice_thresholds"],
        }
    study = (metrics or {}).get("study") or {}
    if study:
        card["study_level"] = study.get("rule", "")
    if (metrics or {}).get("mirror_average"):
        card["mirror_average"] = (
            "each slice is scored as the mean of its own and its left-right mirror image's "
            "feature maps, so a study and its mirror get the same answer"
        )
    sha = save_checkpoint(
        out,
        model,
        spec,
        {k: float(thresholds[k]) for k in LABELS},
        card,
        mirror_average=bool((metrics or {}).get("mirror_average")),
        study_threshold=study.get("threshold"),
        study_rule=study.get("rule", ""),
        **extra,
    )
    loaded = load_checkpoint(out)  # the viewer's reader must accept what we wrote
    logger.info("exported %s (%s, sha256 %s)", out, loaded.arch, sha[:16])
    return {"path": str(out), "sha256": sha, "card": loaded.card}
