"""Command line: the GUI, ``info``, ``triage`` and ``--self-test`` (DESIGN.md contracts), and
the PACS commands ``receive``, ``pacs find|get`` and ``dicom-out`` (:mod:`ichviewer.net.cli`).

``triage`` and ``--self-test`` are in :mod:`ichviewer.triage_cli`, beside this module.

Qt and torch are imported only inside the branch that needs them, so ``ichviewer info``
stays quick and works on machines without a display.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import numpy as np

from ichviewer import __version__

SUBCOMMANDS = ("info", "triage", "receive", "pacs", "dicom-out")
NET_SUBCOMMANDS = ("receive", "pacs", "dicom-out")
logger = logging.getLogger("ichviewer")


def _info_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ichviewer info",
        description="Show what the loader finds in folders, files or zips, and which files it "
        "refused and why. Exit 0 when at least one series loaded.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--no-pixels",
        action="store_true",
        help="headers only: skip decoding (no hu_min/hu_max/hu_mean)",
    )
    return p


def _gui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ichviewer",
        description="Head-CT viewer with an AI second opinion for intracranial hemorrhage. "
        "The bundled model is trained on synthetic phantoms: not for diagnostic use. "
        "Subcommands: 'ichviewer info PATH... [--json]', "
        "'ichviewer triage PATH... --out report.json|csv [--dicom-out DIR]', "
        "'ichviewer receive --port P --aet AET --store DIR [--score]', "
        "'ichviewer pacs find|get ...', 'ichviewer dicom-out REPORT.json PATH... --out DIR'.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="folder(s), DICOM files or a .zip; none opens the bundled demo study",
    )
    p.add_argument(
        "--screenshot", metavar="OUT.png", help="render the main window offscreen, save it and exit"
    )
    p.add_argument("--preset", choices=("brain", "subdural", "bone", "rgb"))
    p.add_argument("--mode", choices=("linear", "sigmoid"))
    p.add_argument(
        "--plane",
        choices=("axial", "coronal", "sagittal"),
        help="view to show alone (a coronal or sagittal reformat; --slice is then its index)",
    )
    p.add_argument("--slice", type=int, metavar="N", help="0-based slice index to show")
    p.add_argument("--heatmap", metavar="LABEL", help="show the AI heatmap of this label")
    p.add_argument(
        "--model",
        metavar="CKPT",
        help="checkpoint to use (default: the site config's, else the bundled one)",
    )
    p.add_argument(
        "--self-test",
        action="store_true",
        help="score the demo study with the model (--model, site config or "
        "bundled), print a JSON summary, exit",
    )
    p.add_argument("--version", action="version", version=f"ichviewer {__version__}")
    return p


def series_to_dict(series, reader=None) -> dict:
    """JSON-ready description of one series (``ichviewer info`` contract)."""
    from ichviewer.io.sources import display_name

    slices = []
    for i, ref in enumerate(series.slices):
        entry = {
            "file": display_name(ref.source),
            "frame": ref.frame,
            "sop_instance_uid": ref.sop_instance_uid,
            "instance_number": ref.instance_number,
            "position_mm": round(ref.position_mm, 4),
        }
        if reader is not None:
            hu = reader.slice(i)
            entry.update(
                hu_min=float(hu.min()),
                hu_max=float(hu.max()),
                hu_mean=round(float(np.mean(hu, dtype=np.float64)), 3),
            )
        slices.append(entry)
    return {
        "series_instance_uid": series.series_instance_uid,
        "study_instance_uid": series.study_instance_uid,
        "description": series.description,
        "modality": series.modality,
        "body_part": series.body_part,
        "n_slices": series.n_slices,
        "rows": series.rows,
        "columns": series.columns,
        "pixel_spacing": list(series.pixel_spacing) if series.pixel_spacing else None,
        "slice_thickness": series.slice_thickness,
        "gantry_tilt_deg": series.tilt_deg,
        "spacing_mm": {"min": min(series.gaps_mm), "max": max(series.gaps_mm)}
        if series.gaps_mm
        else None,
        "uniform_spacing": series.uniform_spacing,
        "sorted_by": series.sorted_by,
        "slices": slices,
    }


def run_info(argv: Sequence[str]) -> int:
    args = _info_parser().parse_args(argv)
    from ichviewer.io import SeriesReader, scan

    result = scan(args.paths)
    out_series = []
    errors = [{"file": e.file, "error": e.error} for e in result.errors]
    for s in result.series:
        reader = None if args.no_pixels else SeriesReader(s)
        if reader is not None:
            reader.load_all()
            errors += [{"file": e.file, "error": e.error} for e in reader.errors]
        out_series.append(series_to_dict(s, reader))
    if args.json:
        from ichviewer.core.jsonsafe import dumps

        sys.stdout.write(dumps({"series": out_series, "errors": errors}, indent=2) + "\n")
    else:
        for s in out_series:
            sp = s["spacing_mm"]
            spacing = f", spacing {sp['min']:g}-{sp['max']:g} mm" if sp else ""
            tilt = f", gantry tilt {s['gantry_tilt_deg']:g} deg" if s["gantry_tilt_deg"] else ""
            print(
                f"{s['modality']} {s['description']}: {s['n_slices']} slices "
                f"{s['rows']}x{s['columns']}, thickness {s['slice_thickness']} mm"
                f"{spacing}{tilt}  [{s['series_instance_uid']}]"
            )
            if s["slices"] and "hu_min" in s["slices"][0]:
                lo = min(x["hu_min"] for x in s["slices"])
                hi = max(x["hu_max"] for x in s["slices"])
                print(f"    HU range {lo:g} .. {hi:g}")
        for e in errors:
            print(f"refused {e['file']}: {e['error']}")
        print(f"{len(out_series)} series, {len(errors)} refused file(s)")
    return 0 if out_series else 1


def _configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    if argv and argv[0] == "info":
        return run_info(argv[1:])
    if argv and argv[0] == "triage":
        from ichviewer import triage_cli

        return triage_cli.main(argv[1:])
    if argv and argv[0] in NET_SUBCOMMANDS:
        from ichviewer.net import cli as net_cli

        if argv[0] == "receive":  # one line per stored instance, no patient data
            logging.getLogger("ichviewer.net").setLevel(logging.INFO)
        return net_cli.main(argv)
    args = _gui_parser().parse_args(argv)
    if args.self_test:
        from ichviewer import triage_cli

        return triage_cli.self_test(model=args.model)
    from ichviewer.app import run_gui

    return run_gui(
        args.paths,
        screenshot=args.screenshot,
        preset=args.preset,
        mode=args.mode,
        slice_index=args.slice,
        heatmap=args.heatmap,
        plane=args.plane,
        model=args.model,
    )
