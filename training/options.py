"""Command-line options of ``fit``, ``eval`` and ``export`` (``build-bundled``'s are in
training.bundled_options), and the defaults they share.

Kept free of torch so ``python -m training --help`` (and ``synth``) start fast; the modules
that do the work (train, evaluate, export) re-export their parser from here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TRAIN_SEED = 1000
TEST_SEED = 9000
#: Distances (mm) the series-context stage looks at: one and two 5 mm slices away.
DEFAULT_CONTEXT_MM = (5.0, 10.0)
#: What a label's row of the series-context stage may look at: every label's features, or
#: its own only (the default).
CONTEXT_LABELS = ("all", "own")
DEFAULT_CONTEXT_LABELS = "own"
#: L2 penalty of the series-context stage's weights.
DEFAULT_CONTEXT_L2 = 1e-3
#: The false-alarm budgets of the thresholds (training.metrics says why): the share of the
#: validation's negative slices, and of its negative studies, that must stay unflagged.
DEFAULT_MIN_SPECIFICITY = 0.95
STUDY_MIN_SPECIFICITY = 0.90
REPO = Path(__file__).resolve().parents[1]
DEFAULT_REALCT = [
    REPO.parent / "shared" / "data" / "realct" / n for n in ("ge_head", "rsna_samples")
]


def at_least_one(text: str) -> int:
    """argparse type: an integer >= 1."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def fit_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train the ICH Viewer classifier. Examples:\n"
        "  python -m training fit --data rsna-intracranial-hemorrhage-detection  (holds\n"
        "      stage_2_train/ and stage_2_train.csv)\n"
        "  python -m training fit --data synth/train --test-data synth/test --size 160\n"
        "  torchrun --nproc_per_node=4 -m training fit --data ... (one process per GPU)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=add_help,
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        required=True,
        help="DICOM folder: RSNA stage_2 layout or a `python -m training synth` folder",
    )
    g.add_argument(
        "--labels", help="label CSV (default: stage_2_train.csv or labels.csv in --data)"
    )
    g.add_argument(
        "--test-data",
        help="separate held-out folder used as the test split "
        "(then --data is split into train/val only)",
    )
    g.add_argument("--test-labels", help="label CSV of --test-data")
    g.add_argument(
        "--split",
        type=float,
        nargs=3,
        default=(0.8, 0.1, 0.1),
        metavar=("TRAIN", "VAL", "TEST"),
        help="patient fractions (default 0.8 0.1 0.1)",
    )
    g.add_argument("--split-seed", type=int, default=0, help="seed of the patient split")
    g.add_argument(
        "--cache-dir",
        default=None,
        help="header index + preprocessing cache (default: the user cache dir)",
    )
    g.add_argument("--cache-workers", type=int, default=None, help="threads building the cache")
    g.add_argument("--workers", type=int, default=2, help="data loader processes per rank")
    g = p.add_argument_group("model input (stored in the checkpoint)")
    g.add_argument("--size", type=int, default=256, help="input side S in pixels (default 256)")
    g.add_argument("--mode", choices=("linear", "sigmoid"), default="linear", help="window mode")
    g = p.add_argument_group("model")
    g.add_argument(
        "--arch",
        default="densenet121",
        help="densenet121|161|169|201, or 'densenet' with the size options below",
    )
    g.add_argument("--growth-rate", type=int, help="custom DenseNet growth rate")
    g.add_argument("--block-config", type=int, nargs="+", help="custom DenseNet layers per block")
    g.add_argument("--num-init-features", type=int, help="custom DenseNet stem width")
    g.add_argument("--drop-rate", type=float, default=0.0, help="dropout after each dense layer")
    g.add_argument(
        "--pool",
        choices=("avg", "lse"),
        default="avg",
        help="global pool: avg (torchvision's) or lse, a smooth maximum of each label's "
        "activation map, which lets a small lesion move the score (default avg)",
    )
    g.add_argument(
        "--no-imagenet",
        dest="imagenet",
        action="store_false",
        help="start from random weights even if ImageNet weights are cached locally",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("-b", "--batch-size", type=int, default=32, help="per rank")
    g.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate")
    g.add_argument("--weight-decay", type=float, default=1e-4)
    g.add_argument("--warmup-epochs", type=float, default=0.5)
    g.add_argument(
        "--pos-weight",
        action="store_true",
        help="BCE pos_weight = n_neg/n_pos per label (capped at 20)",
    )
    g.add_argument(
        "--balanced",
        type=float,
        default=None,
        metavar="FRACTION",
        help="draw slices so FRACTION of them have any=1 (e.g. 0.5)",
    )
    g.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="no random rotation/scale/shift/flip",
    )
    g.add_argument(
        "--appearance",
        type=float,
        default=0.0,
        metavar="STRENGTH",
        help="also vary each image as scanners differ: HU offset and gain, a softer or "
        "sharper kernel, noise (training.augment.appearance; 1 = full size; default 0 = off)",
    )
    g.add_argument("--clip-grad", type=float, default=None, help="max gradient norm")
    g.add_argument(
        "--faint-px",
        type=int,
        default=0,
        metavar="PX",
        help="with lesion masks (synthetic data): a label whose blood covers fewer than PX "
        "pixels of the input after augmentation is left out of the loss, neither positive "
        "nor negative (default 0: every labelled sliver counts)",
    )
    g.add_argument(
        "--mask-loss",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="synthetic data: add WEIGHT x a per-cell BCE teaching each label's activation "
        "map where the lesion is, from <data>/masks/*.npz written by `synth` (use with "
        "--pool lse; slices without a mask add nothing; default 0 = off)",
    )
    g = p.add_argument_group("speed and runtime")
    g.add_argument("--device", default="auto", help="auto|cpu|cuda")
    g.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "off"),
        default="auto",
        help="autocast dtype (auto: bf16 or fp16 on CUDA, bf16 on CPUs with AVX512-BF16/AMX, else off)",
    )
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--max-steps", type=int, default=None, help="stop each epoch after N steps")
    g.add_argument("--output-dir", default="runs/fit", help="checkpoint.pth, log.jsonl, log.txt")
    g.add_argument("--resume", default="", help="checkpoint.pth to continue from")
    g.add_argument(
        "--no-final-thresholds",
        dest="final_thresholds",
        action="store_false",
        help="skip choosing thresholds on float32 validation outputs after the last epoch "
        "(an ensemble member's: the ensemble drops them and chooses its own)",
    )
    g.add_argument(
        "--val-every",
        type=at_least_one,
        default=1,
        metavar="N",
        help="validate after every Nth epoch and always after the last (validation only "
        "reports: the weights are the same whatever N is)",
    )
    g.add_argument(
        "--keep-epochs",
        action="store_true",
        help="also keep each epoch's checkpoint as epoch<N>.pth (for ablations: "
        "python -m training realct-check --model epoch<N>.pth --threshold 0.5)",
    )
    g.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="exit after N epochs of this invocation (the schedule still spans "
        "--epochs; continue with --resume): for time-limited jobs",
    )
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm bars")
    return p


def eval_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Evaluate a trained model on its held-out split. Example:\n"
        "  python -m training eval --checkpoint runs/fit/checkpoint.pth --output-dir runs/fit/eval \\\n"
        "      --realct /data/known_negative_ct",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=add_help,
    )
    p.add_argument("--checkpoint", required=True, help="training checkpoint.pth or viewer .pt")
    p.add_argument("--data", help="override the training data folder stored in the checkpoint")
    p.add_argument("--labels", help="override its label CSV")
    p.add_argument("--test-data", help="override the held-out folder")
    p.add_argument("--test-labels", help="override its label CSV")
    p.add_argument("--split", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--split-seed", type=int)
    p.add_argument("--cache-dir", help="header index + preprocessing cache")
    p.add_argument(
        "--output-dir",
        default=None,
        help="metrics.json and curves (default: next to the checkpoint, in eval/)",
    )
    p.add_argument(
        "--realct",
        nargs="*",
        default=[],
        help="DICOM folders believed negative: count the slices the model flags",
    )
    p.add_argument(
        "--rechoose-thresholds",
        action="store_true",
        help="choose thresholds on the validation split even if the checkpoint has them",
    )
    p.add_argument(
        "--no-context",
        dest="context",
        action="store_false",
        help="do not fit the series-context stage (default: fit it on the validation split "
        "and report what the viewer shows; the network alone goes in *_slice_only)",
    )
    p.add_argument(
        "--context-mm",
        type=float,
        nargs="+",
        default=list(DEFAULT_CONTEXT_MM),
        metavar="MM",
        help="distances along the series the stage looks at (default 5 10)",
    )
    p.add_argument(
        "--context-l2", type=float, default=DEFAULT_CONTEXT_L2, help="L2 penalty of the stage"
    )
    p.add_argument(
        "--context-labels",
        choices=CONTEXT_LABELS,
        default=DEFAULT_CONTEXT_LABELS,
        help="what a label's revision looks at: its own logits along the series (own, the "
        "default since 2026-12-04), or every label's (all)",
    )
    p.add_argument(
        "--no-mirror-average",
        dest="mirror_average",
        action="store_false",
        help="score each slice alone (default: the mean of its and its left-right mirror "
        "image's features, so a study and its mirror get the same answer; export stores it)",
    )
    p.add_argument(
        "--study-sensitivity",
        type=float,
        default=0.95,
        help="the study-level threshold (on a study's largest P(any)) is the highest one "
        "keeping this sensitivity over the validation studies (default 0.95)",
    )
    p.add_argument(
        "--specificity",
        type=float,
        default=DEFAULT_MIN_SPECIFICITY,
        help="false-alarm budget of the slice thresholds: each is raised, if need be, until "
        f"it flags at most 1 - this of the validation's negative slices (default "
        f"{DEFAULT_MIN_SPECIFICITY})",
    )
    p.add_argument(
        "--study-specificity",
        type=float,
        default=STUDY_MIN_SPECIFICITY,
        help="the same budget for the study-level threshold, over the validation's negative "
        f"studies (default {STUDY_MIN_SPECIFICITY})",
    )
    p.add_argument(
        "-b",
        "--batch-size",
        type=int,
        default=32,
        help="slices a forward pass (32: on the CPU each layer's output then stays under "
        "ichviewer.core.heap's 32 MiB; 64 ran 1.7x slower on 2 cores)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "off"),
        default="off",
        help="autocast while scoring (default off: float32, as the viewer runs the model)",
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def export_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Write the viewer checkpoint (weights + thresholds + model card). Example:\n"
        "  python -m training export --checkpoint runs/fit/checkpoint.pth \\\n"
        "      --metrics runs/fit/eval/metrics.json --out my-model.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=add_help,
    )
    p.add_argument("--checkpoint", required=True, help="training checkpoint.pth from `fit`")
    p.add_argument(
        "--metrics",
        help="metrics.json from `eval` (default: eval/metrics.json next "
        "to the checkpoint, if present); its thresholds and test metrics go in the card",
    )
    p.add_argument("--out", required=True, help="viewer checkpoint to write (.pt)")
    p.add_argument("--name", default="ichviewer-densenet")
    p.add_argument("--version", default="1.0.0")
    p.add_argument(
        "--training-data",
        default=None,
        help="one line describing the data (default: from the data folders)",
    )
    p.add_argument(
        "--command",
        default=None,
        help="the command that reproduces the model (recorded in the card)",
    )
    p.add_argument(
        "--provenance",
        default=None,
        help="how this file came from that command when it did not come from it alone (say, "
        "a later eval refitted its series context); recorded in the card and its README",
    )
    return p
