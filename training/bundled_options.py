"""Command-line options of ``build-bundled``: the one command behind resources/model.

Kept free of torch, as training.options is, so ``python -m training --help`` starts fast.
"""

from __future__ import annotations

import argparse

from training.options import DEFAULT_REALCT, REPO, TEST_SEED, TRAIN_SEED, at_least_one


def bundled_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Rebuild the bundled checkpoint from synthetic phantoms in one command:\n"
        "  python -m training build-bundled --work /tmp/ichv-bundled --out resources/model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=add_help,
    )
    p.add_argument("--work", default="/tmp/ichv-bundled", help="synthetic data, caches, run folder")
    p.add_argument(
        "--out",
        default=str(REPO / "resources" / "model"),
        help="where the checkpoint, model_card.json, metrics.json and README.md go",
    )
    p.add_argument(
        "--studies", type=int, default=1000, help="train+val studies (seed --train-seed)"
    )
    p.add_argument("--test-studies", type=int, default=60, help="test studies (seed --test-seed)")
    p.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    p.add_argument("--test-seed", type=int, default=TEST_SEED)
    p.add_argument(
        "--fit-seed",
        type=int,
        default=0,
        help="training seed (initial weights, batch order, augmentation); the bundled model "
        "is seed 0. Another seed on the same synthetic set sizes the run-to-run spread",
    )
    p.add_argument(
        "--members",
        type=int,
        default=2,
        help="train this many networks (seeds --fit-seed, --fit-seed + 1, ...) on the same "
        "set and ship their ensemble (python -m training ensemble; the bundled model is "
        "seeds 0 and 1); each costs a training run and a forward pass per slice in the viewer",
    )
    p.add_argument(
        "--sequential-members",
        dest="parallel_members",
        action="store_false",
        help="train the members one after another (default on a CPU with a core per member: "
        "side by side, one process each, the cores shared out)",
    )
    p.add_argument(
        "--synth-size",
        type=int,
        default=192,
        help="generator image size; a subtype is labelled on a slice when its blood covers "
        ">= 5 mm^2 there (drawn at this size, capped at 384 px), so keeping it equal to --size "
        "labels only what the model can see",
    )
    p.add_argument("--size", type=int, default=192, help="model input size S")
    p.add_argument(
        "--epochs",
        type=int,
        default=4,
        help="default 4: an epoch of 684 steps takes about 5 min on two cores with native "
        "bf16 and 13-14 min without (AMD EPYC, fp32); 7 (the earlier default) gave no better "
        "real-CT flags",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--arch", default="densenet")
    p.add_argument("--growth-rate", type=int, default=16)
    p.add_argument(
        "--block-config",
        type=int,
        nargs="+",
        default=[4, 8, 16],
        help="layers per dense block; three blocks (stride 16) give a 12 x 12 CAM at 192 px",
    )
    p.add_argument("--num-init-features", type=int, default=32)
    p.add_argument("--pool", choices=("avg", "lse"), default="lse", help="global pool")
    p.add_argument(
        "--mask-loss",
        type=float,
        default=1.0,
        help="weight of the lesion-mask loss on the activation maps (fit --mask-loss; 0: off)",
    )
    p.add_argument(
        "--balanced",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="draw training slices so FRACTION have any=1 (fit --balanced; 0: as they come)",
    )
    p.add_argument(
        "--appearance",
        type=float,
        default=1.0,
        metavar="STRENGTH",
        help="scanner-appearance augmentation (fit --appearance; 0: off)",
    )
    p.add_argument(
        "--faint-px",
        type=int,
        default=0,
        metavar="PX",
        help="leave labels whose blood covers fewer input pixels out of the loss (fit "
        "--faint-px; 0: off)",
    )
    p.add_argument(
        "--val-every",
        type=at_least_one,
        default=2,
        metavar="N",
        help="members validate after every Nth epoch and after the last (fit --val-every; "
        "the ensemble is evaluated on the whole validation split either way)",
    )
    p.add_argument(
        "--keep-epochs",
        action="store_true",
        help="keep each epoch's checkpoint in the run folder (fit --keep-epochs)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="synthesis processes (default: one per usable core; the phantoms are the same "
        "for any number)",
    )
    p.add_argument(
        "--loader-workers",
        type=int,
        default=0,
        help="data loader processes (0: the memory-mapped cache is read in-process)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--realct",
        nargs="*",
        default=[str(d) for d in DEFAULT_REALCT if d.is_dir()],
        help="real CT folders believed negative (flag counts go in the card)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p
