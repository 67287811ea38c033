"""``python -m training ensemble``: several `fit` runs of one recipe as one network.

The members must have been trained on the same data with the same patient split (so the
validation split that ``eval`` picks thresholds and the series context on is held out from
every one of them), the same architecture and the same preprocessing; they differ in their
``--seed``. The result is a training checkpoint like `fit`'s (``model``, ``arch``,
``arch_kwargs`` with ``members``, ``preprocess``, ``args``) that ``eval`` and ``export`` take
as they are; :mod:`ichviewer.ai.ensemble` says how the members are combined.

    python -m training ensemble --checkpoint run/checkpoint.pth \\
        --checkpoint run-seed1/checkpoint.pth --out ensemble/checkpoint.pth
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger("training")

#: `fit` arguments that may differ between members (everything else must match).
MAY_DIFFER = frozenset(
    {
        "seed",
        "output_dir",
        "resume",
        "progress",
        "stop_after",
        "keep_epochs",
        "threads",
        "val_every",
        "func",
    }
)
#: Entries of a member's checkpoint that describe that member alone, not the ensemble.
_MEMBER_ONLY = ("optimizer", "lr_scheduler", "scaler", "thresholds", "val_metrics")


def ensemble_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=add_help,
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        help="a training checkpoint.pth from `fit` (give it once per member, two or more)",
    )
    p.add_argument("--out", required=True, type=Path, help="training checkpoint to write")
    return p


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def combine(paths: list[Path], out: Path) -> dict[str, Any]:
    """Write the ensemble of the `fit` checkpoints ``paths`` to ``out``; returns its state.

    Raises ValueError naming the checkpoint that does not fit with the first one.
    """
    import torch

    from ichviewer.ai.network import ensemble_of
    from training import hardware
    from training.evaluate import load_model

    if len(paths) < 2:
        raise ValueError("an ensemble needs at least two --checkpoint")
    states, models = [], []
    for path in paths:
        model, _, state = load_model(path)
        if "model" not in state:  # load_model read a viewer checkpoint
            raise ValueError(f"{path}: not a training checkpoint.pth from `fit`")
        if "members" in state["arch_kwargs"]:
            raise ValueError(f"{path}: is an ensemble already; give its members instead")
        states.append(state)
        models.append(model)
    first = states[0]
    for path, state in zip(paths[1:], states[1:], strict=True):
        if state["preprocess"] != first["preprocess"]:
            raise ValueError(f"{path}: preprocessing differs from {paths[0]}")
        a, b = first.get("args") or {}, state.get("args") or {}
        differ = sorted(k for k in set(a) | set(b) if k not in MAY_DIFFER and a.get(k) != b.get(k))
        if differ:
            raise ValueError(
                f"{path}: trained differently from {paths[0]} ({', '.join(differ)}); members "
                "must share the data, the split and the recipe"
            )
    seeds = [(s.get("args") or {}).get("seed") for s in states]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"members share a seed ({seeds}): they would be the same network")
    model = ensemble_of(models)
    ens = {k: v for k, v in first.items() if k not in _MEMBER_ONLY}
    ens.update(
        model=model.state_dict(),
        arch_kwargs=dict(model.arch_kwargs),
        imagenet_init=model.imagenet_init,
        members=[
            {
                "checkpoint": str(p),
                "sha256": _sha(p),
                "seed": s,
                "epochs": int(st.get("epoch", -1)) + 1,
                "hardware": st.get("hardware"),
            }
            for p, s, st in zip(paths, seeds, states, strict=True)
        ],
        hardware=hardware.combine([st.get("hardware") for st in states]),
    )
    ens["args"] = {**(first.get("args") or {}), "seed": seeds}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ens, out)
    logger.info("ensemble of %d members (seeds %s) written to %s", len(paths), seeds, out)
    return ens


def describe(state: dict[str, Any]) -> str | None:
    """The model card's line on the members, or None for a single network."""
    members = state.get("members")
    if not members:
        return None
    seeds = ", ".join(str(m.get("seed")) for m in members)
    return (
        f"mean of {len(members)} networks of this architecture trained with the same recipe, "
        f"data and split (fit seeds {seeds}): each label's activation map is the mean of the "
        "members' maps, and the probability is pooled from it (ichviewer.ai.ensemble)"
    )


def _run(args: argparse.Namespace) -> int:
    combine([Path(c) for c in args.checkpoint], args.out)
    return 0


def register(subparsers: Any) -> None:
    """Add ``ensemble`` to ``python -m training``."""
    parent = ensemble_parser(add_help=False)
    p = subparsers.add_parser(
        "ensemble",
        parents=[parent],
        help="combine fit runs of one recipe (different seeds) into one network",
        description=parent.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=_run)
