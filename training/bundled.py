"""``python -m training build-bundled``: the one command behind resources/model/.

Generates two synthetic sets from different seeds (train+val, and a test set whose seed is
never used in training), fits small DenseNets (two seeds, side by side on a CPU, a core
each) and combines them, evaluates the ensemble on the held-out set and on real CT believed
negative, exports the viewer checkpoint and writes model_card.json, metrics.json and
README.md next to it. Defaults are sized for about an hour on two CPU cores; pass a larger
--studies / --size / --arch on a GPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from ichviewer.core.cpu import usable_cores
from training import ensemble, realcheck
from training.bundled_options import bundled_parser as get_args_parser
from training.model_readme import readme_text

logger = logging.getLogger("training")

__all__ = ["get_args_parser", "main"]


#: The modules whose code decides every pixel and label of a synthetic set.
GENERATOR_MODULES = (
    "anatomy",
    "grid",
    "phantom",
    "lesions",
    "lookalikes",
    "vessels",
    "tentorium",
    "scanner",
    "ctsim",
    "slicing",
    "synthetic",
    "synth_io",
)


def generator_sha() -> str:
    """Hash of the generator's source: a set written by other code is not reused."""
    h = hashlib.sha256()
    for name in GENERATOR_MODULES:
        h.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


def _synth(out: Path, studies: int, seed: int, size: int, workers: int) -> None:
    from training.synthetic import synth

    code = generator_sha()
    if (out / "labels.csv").is_file() and (out / "synth.json").is_file():
        doc = json.loads((out / "synth.json").read_text())
        same = (doc.get("seed"), doc.get("studies"), doc.get("size")) == (seed, studies, size)
        if same and doc.get("masks") and doc.get("generator_sha") == code:
            logger.info("reusing synthetic set %s", out)
            return
        logger.info("%s was written with other settings or generator code: rewriting", out)
    t = time.time()
    synth(out, studies, seed, layout="series", size=size, workers=workers)
    (out / "synth.json").write_text(
        json.dumps(
            {
                "generator": "training.synthetic",
                "generator_sha": code,
                "seed": seed,
                "studies": studies,
                "size": size,
                "layout": "series",
                "masks": "masks/*.npz",
            }
        )
    )
    logger.info("synthesised %d studies (seed %d) in %.0f s", studies, seed, time.time() - t)


def fit_argv(
    a: argparse.Namespace, work: Path, seed: int | None = None, run: str = "run"
) -> list[str]:
    """The `fit` command line the bundled model (or its member of ``seed``, trained into
    ``work/run``) is trained with."""
    argv = [
        "--data",
        str(work / "train"),
        "--test-data",
        str(work / "test"),
        "--split",
        "0.85",
        "0.15",
        "0",
        "--split-seed",
        "0",
        "--cache-dir",
        str(work / "cache"),
        "--output-dir",
        str(work / run),
        "--size",
        str(a.size),
        "--arch",
        a.arch,
        "--epochs",
        str(a.epochs),
        "--batch-size",
        str(a.batch_size),
        "--lr",
        str(a.lr),
        "--workers",
        str(a.loader_workers),
        "--device",
        a.device,
        "--seed",
        str(a.fit_seed if seed is None else seed),
    ]
    if a.arch == "densenet":
        argv += [
            "--growth-rate",
            str(a.growth_rate),
            "--block-config",
            *map(str, a.block_config),
            "--num-init-features",
            str(a.num_init_features),
        ]
    if a.pool != "avg":
        argv += ["--pool", a.pool]
    if a.mask_loss:
        argv += ["--mask-loss", str(a.mask_loss)]
    if a.balanced:
        argv += ["--balanced", str(a.balanced)]
    if a.appearance:
        argv += ["--appearance", str(a.appearance)]
    if a.faint_px:
        argv += ["--faint-px", str(a.faint_px)]
    if a.members > 1:  # the ensemble chooses its own thresholds (training.ensemble)
        argv.append("--no-final-thresholds")
    if a.val_every != 1:
        argv += ["--val-every", str(a.val_every)]
    if a.keep_epochs:
        argv.append("--keep-epochs")
    if a.threads:
        argv += ["--threads", str(a.threads)]
    if not a.progress:
        argv.append("--no-progress")
    return argv


def member_runs(args: argparse.Namespace) -> list[tuple[int, str]]:
    """(seed, run folder name) of each network: the first in ``run``, others ``run-seed<N>``."""
    if args.members < 1:
        raise ValueError(f"--members must be at least 1, got {args.members}")
    seeds = [args.fit_seed + k for k in range(args.members)]
    return [(s, "run" if k == 0 else f"run-seed{s}") for k, s in enumerate(seeds)]


def _fit(args: argparse.Namespace, work: Path, seed: int, run: str = "run") -> float:
    """Run `fit`, or continue / reuse a run of the same settings in ``work / run``; returns
    the training time in seconds (summed over epochs, from the run's log.jsonl)."""
    import torch

    from training import train

    fit_args = train.get_args_parser().parse_args(fit_argv(args, work, seed, run))
    ckpt = work / run / "checkpoint.pth"
    state = torch.load(ckpt, map_location="cpu", weights_only=True) if ckpt.is_file() else None
    ignore = {"resume", "progress", "stop_after", "keep_epochs", "threads", "val_every"}
    wanted = {k: v for k, v in train.args_to_plain(fit_args).items() if k not in ignore}
    if state is not None and all(state["args"].get(k) == v for k, v in wanted.items()):
        if state["epoch"] + 1 >= fit_args.epochs and "val_metrics" in state:
            logger.info("reusing the finished training run in %s", ckpt.parent)
        else:
            fit_args.resume = str(ckpt)
            train.main(fit_args)
    else:
        if state is not None:
            logger.info("settings changed: training %s from scratch", ckpt.parent)
            (work / run / "log.jsonl").unlink(missing_ok=True)
        train.main(fit_args)
    return _fit_seconds(work / run)


def _fit_seconds(run_dir: Path) -> float:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    epochs = [r for r in map(json.loads, lines) if r.get("event") == "epoch"]
    return float(sum(r["train"]["time_s"] for r in epochs))


def member_threads(args: argparse.Namespace, n: int) -> int | None:
    """Torch threads for each of ``n`` members trained side by side on the CPU, or None to
    train them one after another (one member, --sequential-members, a GPU, or fewer cores
    than members). A small DenseNet's many small layers keep a second thread from doubling
    the speed of one: on 2 cores (Xeon, bf16 autocast) two one-thread processes side by side
    train 1.18x as fast as one two-thread process after the other
    (tests/bench/bench_members.py)."""
    if n < 2 or not args.parallel_members or args.device not in ("auto", "cpu"):
        return None
    if args.device == "auto":
        import torch

        if torch.cuda.is_available():
            return None
    cores = usable_cores()
    if cores < n:
        return None
    return args.threads or cores // n


def _fit_child(args: argparse.Namespace, work: str, seed: int, run: str) -> None:
    """A member's training in its own process; its console lines say which member."""
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(logging.Formatter(f"%(asctime)s {run} %(levelname)s %(message)s", "%H:%M:%S"))
    h._training = True  # type: ignore[attr-defined]  # runlog.setup_logging keeps it
    for name in ("training", "ichviewer"):
        logging.getLogger(name).addHandler(h)
    _fit(args, Path(work), seed, run)


def fit_members(args: argparse.Namespace, work: Path, runs: list[tuple[int, str]]) -> float:
    """Train (or reuse) every member; returns their training seconds, summed."""
    threads = member_threads(args, len(runs))
    if threads is None:
        return sum(_fit(args, work, seed, run) for seed, run in runs)
    logger.info("training %d members side by side, %d CPU thread(s) each", len(runs), threads)
    plain = argparse.Namespace(
        **{k: v for k, v in vars(args).items() if k not in ("func", "parser")}
    )
    plain.threads = threads
    ctx = multiprocessing.get_context("spawn")  # no forked torch thread pools
    procs = [
        ctx.Process(target=_fit_child, args=(plain, str(work), seed, run), name=run)
        for seed, run in runs
    ]
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
    failed = [str(work / proc.name) for proc in procs if proc.exitcode != 0]
    if failed:
        raise RuntimeError(f"training failed in {', '.join(failed)} (its log.txt says why)")
    return sum(_fit_seconds(work / run) for _, run in runs)


def main(args: argparse.Namespace) -> dict[str, Any]:
    from training import evaluate, export, train

    t0 = time.time()
    work = Path(args.work)
    out = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    train.setup_logging(None, True)
    workers = args.workers or usable_cores()
    _synth(work / "train", args.studies, args.train_seed, args.synth_size, workers)
    _synth(work / "test", args.test_studies, args.test_seed, args.synth_size, workers)
    runs = member_runs(args)
    t_fit = time.time()
    fit_s = fit_members(args, work, runs)
    fit_wall = time.time() - t_fit
    if len(runs) == 1:
        ckpt = work / "run" / "checkpoint.pth"
    else:
        ckpt = work / "ensemble" / "checkpoint.pth"
        ensemble.combine([work / run / "checkpoint.pth" for _, run in runs], ckpt)
    eval_dir = ckpt.parent / "eval"
    eval_argv = [
        "--checkpoint",
        str(ckpt),
        "--output-dir",
        str(eval_dir),
        "--rechoose-thresholds",  # on float32 outputs, as the viewer computes them
        "--realct",
        *args.realct,
    ]
    if not args.progress:
        eval_argv.append("--no-progress")
    metrics = evaluate.main(evaluate.get_args_parser().parse_args(eval_argv))
    metrics["training_time_s"] = round(fit_s, 1)
    metrics["training_wall_s"] = round(fit_wall, 1)
    command = (
        " ".join(shlex.quote(a) for a in ["python", "-m", "training", *sys.argv[1:]])
        if sys.argv[1:2] == ["build-bundled"]
        else "python -m training build-bundled " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    )
    out.mkdir(parents=True, exist_ok=True)
    (eval_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    res = export.main(
        export.get_args_parser().parse_args(
            [
                "--checkpoint",
                str(ckpt),
                "--metrics",
                str(eval_dir / "metrics.json"),
                "--out",
                str(out / "ichviewer-densenet.pt"),
                "--command",
                command,
            ]
        )
    )
    card = dict(res["card"])
    (out / "model_card.json").write_text(json.dumps(card, indent=2))
    metrics["sha256"] = res["sha256"]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    realct = None
    if realcheck.REALCT.is_dir():  # the issue-15 checks, as the app scores
        rc_args = realcheck.get_args_parser().parse_args(
            ["--model", str(out / "ichviewer-densenet.pt"), "--out", str(out / "realct_check.json")]
        )
        realct = realcheck.main(rc_args)
    (out / "README.md").write_text(readme_text(card, metrics, command, realct))
    for png in eval_dir.glob("*.png"):
        (out / png.name).write_bytes(png.read_bytes())
    logger.info(
        "bundled model written to %s in %.0f s (training %.0f s of wall time, %.0f s summed "
        "over members)",
        out,
        time.time() - t0,
        fit_wall,
        fit_s,
    )
    return metrics
