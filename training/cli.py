"""``python -m training``: one argparse parser, a subparser per subcommand.

``synth`` is registered here. Other subcommands live in their own modules, each with a
``register(subparsers)`` function that adds its subparser(s) and sets ``func`` (parsed
namespace -> exit status); list the module in :data:`SUBCOMMAND_MODULES` to add them. Import
heavy dependencies (torch) inside ``func``, not at module top, so ``--help`` and ``synth``
stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Modules whose ``register(subparsers)`` adds subcommands after ``synth``, in --help order.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "training.commands",
    "training.ensemble",
    "training.montage",
    "training.camcheck",
    "training.realcheck",
)

log = logging.getLogger("training")


def register_synth(subparsers: Any) -> None:
    """Add ``synth``: write synthetic head-CT studies, or the committed demo study."""
    p = subparsers.add_parser(
        "synth",
        help="write synthetic head-CT phantom studies (DICOM + labels CSV)",
        description="Write synthetic head-CT phantom studies with labelled hemorrhages as "
        "DICOM series plus a labels CSV in the RSNA long format (ID,Label).",
    )
    p.add_argument("--out", type=Path, help="output folder (with --demo: default resources/demo)")
    p.add_argument("--studies", type=int, default=10, help="number of studies (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--layout",
        choices=("series", "rsna"),
        default="series",
        help="series: <out>/<index>/NNNN.dcm + <out>/labels.csv; "
        "rsna: <out>/stage_2_train/ID_*.dcm + <out>/stage_2_train.csv",
    )
    p.add_argument("--size", type=int, default=512, help="image size in pixels (default 512)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument(
        "--demo", action="store_true", help="write the committed demo study (fixed seed) instead"
    )
    p.set_defaults(func=_run_synth, parser=p)


def _run_synth(args: argparse.Namespace) -> int:
    from training.demo import make_demo
    from training.synthetic import synth

    if args.demo:
        out = args.out or Path("resources/demo")
        make_demo(out)
        log.info("demo study written to %s", out)
        return 0
    if args.out is None:
        args.parser.error("--out is required (or --demo)")
    if args.studies < 1 or args.size < 32 or args.workers < 1:
        args.parser.error("--studies and --workers must be >= 1 and --size >= 32")
    csv_path = synth(
        args.out, args.studies, args.seed, layout=args.layout, size=args.size, workers=args.workers
    )
    log.info("labels written to %s", csv_path)
    return 0


def build_parser(modules: Sequence[str] = SUBCOMMAND_MODULES) -> argparse.ArgumentParser:
    """The ``python -m training`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Build ICH Viewer checkpoints: synthetic data, training, evaluation, export.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_synth(sub)
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the chosen subcommand and return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)
