"""Subcommands ``fit``, ``eval``, ``export`` and ``build-bundled`` of ``python -m training``.

Each ``register_*`` adds one subparser whose options come from training.options (torch-free,
so ``--help`` is fast; the working modules re-export the same ``get_args_parser``) and sets
``func`` to a callable taking the parsed namespace and returning an exit status.
"""

from __future__ import annotations

import argparse
from typing import Any


def _sub(subparsers: Any, name: str, parser_fn: Any, help_text: str) -> argparse.ArgumentParser:
    parent = parser_fn(add_help=False)
    return subparsers.add_parser(
        name,
        parents=[parent],
        help=help_text,
        description=parent.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _run_fit(args: argparse.Namespace) -> int:
    from training.train import main

    main(args)
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from training.evaluate import main

    main(args)
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from training.export import main

    main(args)
    return 0


def _run_bundled(args: argparse.Namespace) -> int:
    from training.bundled import main

    main(args)
    return 0


def register_fit(subparsers: Any) -> None:
    from training.options import fit_parser as get_args_parser

    p = _sub(
        subparsers,
        "fit",
        get_args_parser,
        "train a model (single process, or one per GPU under torchrun)",
    )
    p.set_defaults(func=_run_fit)


def register_eval(subparsers: Any) -> None:
    from training.options import eval_parser as get_args_parser

    p = _sub(
        subparsers,
        "eval",
        get_args_parser,
        "test metrics, ROC/PR curves and real-CT flag counts of a trained model",
    )
    p.set_defaults(func=_run_eval)


def register_export(subparsers: Any) -> None:
    from training.options import export_parser as get_args_parser

    p = _sub(
        subparsers,
        "export",
        get_args_parser,
        "write the viewer checkpoint (weights, thresholds, model card)",
    )
    p.set_defaults(func=_run_export)


def register_bundled(subparsers: Any) -> None:
    from training.bundled_options import bundled_parser as get_args_parser

    p = _sub(
        subparsers,
        "build-bundled",
        get_args_parser,
        "synth + fit + eval + export: rebuild resources/model/ichviewer-densenet.pt",
    )
    p.set_defaults(func=_run_bundled)


def register(subparsers: Any) -> None:
    """Add all four subcommands to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    register_fit(subparsers)
    register_eval(subparsers)
    register_export(subparsers)
    register_bundled(subparsers)
