"""Headless triage: score every series under some paths and write a JSON or CSV report.

``ichviewer triage PATH... [--model CKPT] [--device auto|cpu|cuda] --out FILE.json|FILE.csv``
(DESIGN.md, command-line contracts) and ``ichviewer --self-test``. The engine is the
viewer's: Predictor, ScoringJob, ResultCache. This is command-line code: it writes progress
and errors to stderr and the self-test summary to stdout, never patient names or IDs.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichviewer.core.jsonsafe import dumps
from ichviewer.core.labels import LABELS
from ichviewer.errors import IchViewerError, SeriesError
from ichviewer.io import ScanResult, SeriesInfo, scan
from ichviewer.paths import atomic_write_bytes, demo_study_path
from ichviewer.site_config import effective_model_path, load_site_config

if TYPE_CHECKING:  # torch loads only when scoring starts, so building the parser stays fast
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.engine import SeriesScore
    from ichviewer.ai.predictor import Predictor

logger = logging.getLogger("ichviewer.ai")

REPORT_FORMAT = "ichviewer-triage"
REPORT_VERSION = 1
SYNTHETIC_DISCLAIMER = "Synthetic-phantom model, not for diagnostic use"
DISCLAIMER = "Not for diagnostic use"
DEVICES = ("auto", "cpu", "cuda")
CSV_COLUMNS = (
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "position_mm",
    *LABELS,
    "flagged_labels",
)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the triage arguments to ``parser`` (a subcommand parser of ``ichviewer``)."""
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="DICOM folders, files or .zip archives"
    )
    parser.add_argument(
        "--model", metavar="CKPT", default=None, help="checkpoint file (default: the bundled model)"
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where to run the network (default: CUDA if available)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE.json|FILE.csv",
        help="report file; the suffix picks JSON or CSV",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, metavar="N", help="slices per forward pass (default 8)"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the per-slice result cache"
    )
    return parser


def disclaimer_for(predictor: Predictor) -> str:
    return SYNTHETIC_DISCLAIMER if predictor.checkpoint.synthetic else DISCLAIMER


def model_info(predictor: Predictor, path: Path) -> dict[str, Any]:
    """The ``model`` block of a report: identity, card summary, thresholds, how it ran."""
    card = predictor.checkpoint.card
    return {
        "sha256": predictor.sha256,
        "name": predictor.name,
        "path": str(path),
        "arch": predictor.checkpoint.arch,
        "version": card.get("version"),
        "date": card.get("date"),
        "training_data": card.get("training_data"),
        "intended_use": card.get("intended_use"),
        "metrics": card.get("metrics", {}),
        "labels": list(LABELS),
        "thresholds": dict(predictor.checkpoint.thresholds),
        "threshold_source": predictor.checkpoint.threshold_source,
        **predictor.describe(),
    }


def _round(p: float) -> float:
    return round(float(p), 6)


def series_report(score: SeriesScore, predictor: Predictor) -> dict[str, Any]:
    """One ``studies[]`` entry: a scored series with per-slice probabilities and flags.

    ``probabilities`` are what the viewer shows: with the checkpoint's series-context stage
    applied over the scored slices; ``slice_probabilities`` (only when the stage exists)
    are the network's on the slice alone. ``study_probability`` / ``study_flagged`` are the
    study-level call (:func:`ichviewer.core.triage.study_decision`); a series out of the
    model's scope is scored but flags nothing, and ``scope_reason`` says why.
    """
    series, shown, raw, decision = score.series, score.shown, score.raw, score.decision
    slices, flagged, probs = [], [], []
    for i, ref in enumerate(series.slices):
        if i not in score.results:
            continue
        labels = score.flagged_labels(i)
        if labels:
            flagged.append(ref.sop_instance_uid)
        probs.append(shown[i])
        entry = {
            "sop_instance_uid": ref.sop_instance_uid,
            "position_mm": round(float(ref.position_mm), 4),
            "instance_number": ref.instance_number,
            "probabilities": {lb: _round(p) for lb, p in zip(LABELS, shown[i], strict=True)},
            "flagged_labels": labels,
        }
        if predictor.context is not None:
            entry["slice_probabilities"] = {
                lb: _round(p) for lb, p in zip(LABELS, raw[i], strict=True)
            }
        slices.append(entry)
    peak = np.max(probs, axis=0) if probs else np.zeros(len(LABELS))
    return {
        "study_instance_uid": series.study_instance_uid,
        "series_instance_uid": series.series_instance_uid,
        "description": series.description,
        "modality": series.modality,
        "n_slices": series.n_slices,
        "n_scored": len(slices),
        "max": {lb: _round(p) for lb, p in zip(LABELS, peak, strict=True)},
        "study_probability": None if decision.probability is None else _round(decision.probability),
        "study_flagged": decision.flagged,
        "study_threshold": _round(decision.threshold),
        "in_scope": score.scope.in_scope,
        "scope_reason": score.scope.reason,
        "flagged": flagged,
        "slices": slices,
    }


def _progress_printer(k: int, n_series: int, series: SeriesInfo):  # noqa: ANN202
    marks = {max(1, round(series.n_slices * f)) for f in (0.25, 0.5, 0.75, 1.0)}

    def on_progress(done: int, total: int) -> None:
        if done in marks:
            _say(f"  series {k}/{n_series}: {done}/{total} slices scored")

    return on_progress


def score_scan(
    found: ScanResult, predictor: Predictor, cache: ResultCache | None
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Score every series found (ichviewer.ai.engine); returns (studies, errors)."""
    from ichviewer.ai.engine import score_series

    errors = [{"file": e.file, "error": e.error} for e in found.errors]
    studies = []
    for k, series in enumerate(found.series, 1):
        _say(f"scoring series {k}/{len(found.series)}: {series.label}")
        try:
            score = score_series(
                predictor,
                series,
                cache=cache,
                on_progress=_progress_printer(k, len(found.series), series),
            )
        except SeriesError as exc:  # ModelOutputError (a broken model) goes up: fatal
            errors.append({"file": series.description, "error": str(exc)})
            continue
        if not score.scope.in_scope:
            _say(f"  series {k}: out of scope, nothing flagged: {score.scope.reason}")
        elif score.scope.reason:
            _say(f"  series {k}: warning: {score.scope.reason}")
        errors += [{"file": e.file, "error": e.error} for e in score.read_errors]
        errors += [
            {"file": series.slices[i].source, "error": why} for i, why in score.failed.items()
        ]
        if score.results:
            studies.append(series_report(score, predictor))
    return studies, errors


def write_report(out: Path, report: dict[str, Any]) -> None:
    """JSON (the whole report) or CSV (one row per slice), chosen by the suffix."""
    if out.suffix.lower() == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for st in report["studies"]:
            for sl in st["slices"]:
                writer.writerow(
                    [
                        st["study_instance_uid"],
                        st["series_instance_uid"],
                        sl["sop_instance_uid"],
                        sl["position_mm"],
                        *(sl["probabilities"][lb] for lb in LABELS),
                        ";".join(sl["flagged_labels"]),
                    ]
                )
        data = buf.getvalue().encode("utf-8")
    else:
        data = (dumps(report, indent=2) + "\n").encode("utf-8")
    atomic_write_bytes(out, data)


def _load_predictor(model: str | None, device: str, batch_size: int) -> tuple[Predictor, Path]:
    """The predictor of ``--model``, else the site's model, else the bundled one."""
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.site import load_site_checkpoint

    site = load_site_config()  # its problems are logged as warnings, once, by the reader
    path = effective_model_path(model, site)
    if not path.exists():
        hint = (
            "" if model else " (the bundled model is missing from this install; pass --model CKPT)"
        )
        raise IchViewerError(f"no model: {path} does not exist{hint}")
    ckpt = load_site_checkpoint(path, site)
    return Predictor(ckpt, device=device, batch_size=batch_size), path


def run(args: argparse.Namespace) -> int:
    """The triage command. 0 when at least one series was scored, 2 otherwise."""
    t0 = time.perf_counter()
    out = Path(args.out)
    if out.suffix.lower() not in (".json", ".csv"):
        _say(f"error: --out must end in .json or .csv, got {out.name}")
        return 2
    try:
        predictor, model_path = _load_predictor(args.model, args.device, args.batch_size)
    except IchViewerError as exc:
        _say(f"error: {exc}")
        return 2
    _say(
        f"model {predictor.name} (sha256 {predictor.sha256[:16]}), {predictor.device}, "
        f"{predictor.precision}"
    )
    from ichviewer.ai.cache import ResultCache

    cache = None if args.no_cache else ResultCache(predictor.sha256)
    _say(f"scanning {len(args.paths)} path(s)")
    found = scan(args.paths)
    try:
        studies, errors = score_scan(found, predictor, cache)
    except IchViewerError as exc:  # a broken model: no report that could read as negative
        _say(f"error: {exc}")
        return 2
    n_slices = sum(st["n_scored"] for st in studies)
    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "disclaimer": disclaimer_for(predictor),
        "model": model_info(predictor, model_path),
        "studies": studies,
        "errors": errors,
        "n_series": len(studies),
        "n_slices": n_slices,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    try:
        write_report(out, report)
    except OSError as exc:
        _say(f"error: cannot write {out}: {exc.strerror or exc}")
        return 2
    for err in errors:
        _say(f"skipped {err['file']}: {err['error']}")
    if not studies:
        _say(f"error: no image series could be scored under {', '.join(map(str, args.paths))}")
        return 2
    n_flagged = sum(len(st["flagged"]) for st in studies)
    n_studies = sum(bool(st["study_flagged"]) for st in studies)
    _say(
        f"wrote {out}: {len(studies)} series ({n_studies} flagged at study level), "
        f"{n_slices} slices, {n_flagged} flagged, "
        f"{len(errors)} error(s), {report['seconds']:.1f} s. {report['disclaimer']}."
    )
    return 0


def self_test(
    study: str | Path | None = None, model: str | Path | None = None, device: str = "auto"
) -> int:
    """Score the demo study with the model this workstation uses (``model``, else the site
    config's, else the bundled one); print a JSON summary. 0 on success."""
    t0 = time.perf_counter()
    study = Path(study) if study else demo_study_path()
    if not study.exists():
        _say(f"self-test failed: demo study not found at {study}")
        return 1
    try:
        from ichviewer.ai.engine import score_series

        predictor, _ = _load_predictor(str(model) if model else None, device, 8)
        series = scan([study]).best_series()
        if series is None:
            _say(f"self-test failed: no image series in {study}")
            return 1
        score = score_series(predictor, series)  # the engine, without the cache
    except IchViewerError as exc:
        _say(f"self-test failed: {exc}")
        return 1
    if not score.results:
        _say(f"self-test failed: no slice of {study} could be scored")
        return 1
    probs, decision = score.shown, score.decision
    summary = {
        "ok": True,
        "n_slices": len(score.results),
        "study_probability": decision.probability,
        "study_flagged": decision.flagged,
        "max": {lb: _round(p) for lb, p in zip(LABELS, np.nanmax(probs, axis=0), strict=True)},
        "flagged": int(score.flagged.any(axis=1).sum()),
        "model_sha256": predictor.sha256,
        "model_name": predictor.name,
        "device": str(predictor.device),
        "precision": predictor.precision,
        "seconds": round(time.perf_counter() - t0, 3),
        "disclaimer": disclaimer_for(predictor),
    }
    print(dumps(summary), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m ichviewer.ai.triage PATH... --out FILE`` (the CLI proper lives in ichviewer.cli)."""
    parser = add_arguments(argparse.ArgumentParser(prog="ichviewer triage", description=__doc__))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
