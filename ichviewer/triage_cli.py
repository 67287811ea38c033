"""``ichviewer triage`` and ``ichviewer --self-test``: the command lines of headless scoring.

``ichviewer triage PATH... [--model CKPT] [--device auto|cpu|cuda] --out FILE.json|FILE.csv``
(DESIGN.md, command-line contracts). This module parses the arguments, writes progress and
errors to stderr (never patient names or IDs), the self-test summary to stdout and the
report file; the report itself is built by :mod:`ichviewer.ai.triage` with the viewer's
engine.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path
from typing import Any

from ichviewer.ai import triage
from ichviewer.core.constants import DEVICES
from ichviewer.core.jsonsafe import dumps
from ichviewer.core.labels import LABELS
from ichviewer.errors import IchViewerError
from ichviewer.io import scan
from ichviewer.paths import atomic_write_bytes, demo_study_path

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
    parser.add_argument(
        "--dicom-out",
        metavar="DIR",
        help="also write the result as DICOM in the scored study (Comprehensive 3D SR, Key "
        "Object Selection of the flagged slices, heatmap captures) under DIR",
    )
    return parser


def parser() -> argparse.ArgumentParser:
    """The ``ichviewer triage`` parser."""
    return add_arguments(
        argparse.ArgumentParser(
            prog="ichviewer triage",
            description="Score every slice of every series with the AI model, headless, and "
            "write a JSON or CSV report. Not for diagnostic use.",
        )
    )


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


def run(args: argparse.Namespace) -> int:
    """The triage command. 0 when at least one series was scored, 2 otherwise."""
    t0 = time.perf_counter()
    out = Path(args.out)
    if out.suffix.lower() not in (".json", ".csv"):
        _say(f"error: --out must end in .json or .csv, got {out.name}")
        return 2
    try:
        predictor, model_path = triage.load_predictor(args.model, args.device, args.batch_size)
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
        studies, errors = triage.score_scan(found, predictor, cache, say=_say)
    except IchViewerError as exc:  # a broken model: no report that could read as negative
        _say(f"error: {exc}")
        return 2
    report = triage.triage_report(studies, errors, predictor, model_path, time.perf_counter() - t0)
    try:
        write_report(out, report)
    except OSError as exc:
        _say(f"error: cannot write {out}: {exc.strerror or exc}")
        return 2
    if getattr(args, "dicom_out", None) and studies:
        from ichviewer.net.cli import dicom_out

        try:
            files = dicom_out(report, args.paths, args.dicom_out, predictor=predictor)
        except (IchViewerError, OSError) as exc:
            _say(f"error: --dicom-out {args.dicom_out}: {exc}")
            return 2
        _say(f"wrote {len(files)} DICOM file(s) under {args.dicom_out}")
    for err in errors:
        _say(f"skipped {err['file']}: {err['error']}")
    if not studies:
        _say(f"error: no image series could be scored under {', '.join(map(str, args.paths))}")
        return 2
    n_flagged = sum(len(st["flagged"]) for st in studies)
    n_studies = sum(bool(st["study_flagged"]) for st in studies)
    _say(
        f"wrote {out}: {len(studies)} series ({n_studies} flagged at study level), "
        f"{report['n_slices']} slices, {n_flagged} flagged, "
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

        predictor, _ = triage.load_predictor(str(model) if model else None, device, 8)
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
    summary = triage.self_test_summary(score, predictor, time.perf_counter() - t0)
    print(dumps(summary), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``ichviewer triage PATH... --out FILE`` (also ``python -m ichviewer.triage_cli``)."""
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
