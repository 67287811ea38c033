"""`python -m training build-bundled`: the one documented command behind resources/model/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import train
from training.bundled import fit_argv
from training.bundled_options import bundled_parser

CARD = Path(__file__).resolve().parents[2] / "resources" / "model" / "model_card.json"


def _fit_args(argv: list[str], work: Path):
    return train.get_args_parser().parse_args(fit_argv(bundled_parser().parse_args(argv), work))


def test_build_options_reach_fit(tmp_path):
    args = _fit_args(["--size", "128", "--epochs", "3", "--balanced", "0.35"], tmp_path)
    assert (args.size, args.epochs, args.balanced) == (128, 3, 0.35)
    assert args.data == str(tmp_path / "train") and args.test_data == str(tmp_path / "test")
    assert _fit_args([], tmp_path).balanced is None  # 0 = no balanced sampling


def test_the_training_seed_is_a_build_option_and_the_bundled_model_is_seeds_0_and_1(tmp_path):
    # The same recipe trained with another seed flags very differently on real CT: the
    # spread must be reproducible with the one command, and the default must stay the card's.
    assert _fit_args([], tmp_path).seed == 0
    assert _fit_args(["--fit-seed", "1"], tmp_path).seed == 1
    card = json.loads(CARD.read_text())
    # the bundled model is the ensemble of seeds 0 and 1 (build-bundled --members 2)
    assert card["fit_args"]["seed"] == [0, 1] and card["arch_kwargs"]["members"] == 2
    # ... and its recorded command, run again, trains those two seeds
    argv = card["command"].split()
    assert argv[:4] == ["python", "-m", "training", "build-bundled"]
    rebuilt = bundled_parser().parse_args(argv[4:])
    assert (rebuilt.members, rebuilt.fit_seed) == (2, 0)


def test_members_are_consecutive_seeds_trained_into_their_own_folders(tmp_path):
    from training.bundled import member_runs

    args = bundled_parser().parse_args(["--fit-seed", "1", "--members", "3"])
    runs = member_runs(args)
    assert runs == [(1, "run"), (2, "run-seed2"), (3, "run-seed3")]
    fits = [train.get_args_parser().parse_args(fit_argv(args, tmp_path, s, r)) for s, r in runs]
    assert [f.seed for f in fits] == [1, 2, 3]
    assert len({f.output_dir for f in fits}) == 3  # no member overwrites another
    assert len({f.cache_dir for f in fits}) == 1  # one preprocessing cache for all
    assert member_runs(bundled_parser().parse_args([])) == [(0, "run"), (1, "run-seed1")]
    assert member_runs(bundled_parser().parse_args(["--members", "1"])) == [(0, "run")]


def test_the_generator_hash_covers_every_module_the_generator_imports():
    """A module that decides pixels but is missing from GENERATOR_MODULES would let a set
    written by older code be reused."""
    import ast

    from training import bundled

    root = Path(bundled.__file__).parent
    seen, todo = set(), ["synthetic"]
    while todo:
        name = todo.pop()
        if name in seen or name == "masks":  # masks writes what synth computed
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((root / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "training":
                todo += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("training."):
                todo.append(node.module.split(".")[1])
    assert seen <= set(bundled.GENERATOR_MODULES)


@pytest.mark.skipif(not CARD.is_file(), reason="no bundled model card")
def test_committed_model_is_what_the_documented_command_trains(tmp_path):
    """README says `python -m training build-bundled` rebuilds the bundled model: the
    card's command and every training setting must match that command's defaults."""
    card = json.loads(CARD.read_text())
    # Where the data and outputs went, and keeping each epoch's weights, change nothing in
    # the model: a build run with them counts as the documented command, and so does one
    # that spells out a default.
    words, kept, work = card["command"].split(), [], "/tmp/ichv-bundled"
    while words:
        w = words.pop(0)
        if w in ("--work", "--out"):
            value = words.pop(0)
            work = value if w == "--work" else work
        elif w != "--keep-epochs":
            kept.append(w)
    assert kept[:4] == ["python", "-m", "training", "build-bundled"]
    given = vars(bundled_parser().parse_args(kept[4:]))
    assert given == vars(bundled_parser().parse_args(["--no-progress"]))
    want = train.args_to_plain(_fit_args(["--no-progress"], Path(work)))
    from training.bundled import member_runs

    runs = member_runs(bundled_parser().parse_args([]))
    if len(runs) > 1:  # an ensemble's card lists its members' seeds
        want["seed"] = [seed for seed, _ in runs]
    ignore = {"progress", "resume", "stop_after", "workers", "threads", "device", "imagenet"}
    ignore |= {"keep_epochs"}
    got = {k: v for k, v in card["fit_args"].items() if k not in ignore}
    assert len(got) > 20 and got == {k: v for k, v in want.items() if k in got}
    assert "not for diagnostic use" in json.dumps(card).lower()


def test_a_synthetic_set_is_reused_only_when_written_by_the_same_generator(tmp_path, monkeypatch):
    import training.synthetic as synthetic
    from training import bundled

    calls = []

    def fake_synth(out, studies, seed, **kw):
        calls.append(seed)
        (out / "labels.csv").parent.mkdir(parents=True, exist_ok=True)
        (out / "labels.csv").write_text("ID,Label\n")

    monkeypatch.setattr(synthetic, "synth", fake_synth)
    out = tmp_path / "train"
    bundled._synth(out, 2, 7, 64, 1)
    bundled._synth(out, 2, 7, 64, 1)  # same settings, same generator code: reused
    assert calls == [7]
    bundled._synth(out, 3, 7, 64, 1)  # other settings
    assert calls == [7, 7]
    # The generator's code changed (e.g. a new tissue model) with the same seed and size.
    monkeypatch.setattr(bundled, "generator_sha", lambda: "0123456789abcdef")
    bundled._synth(out, 3, 7, 64, 1)
    assert calls == [7, 7, 7]
    assert json.loads((out / "synth.json").read_text())["generator_sha"] == "0123456789abcdef"


@pytest.mark.skipif(not CARD.is_file(), reason="no bundled model card")
def test_committed_card_readme_and_checkpoint_agree():
    """resources/model/README.md is what build-bundled writes from the committed card and
    metrics, and the committed checkpoint carries the series-context stage and thresholds
    those metrics describe."""
    from ichviewer.ai.checkpoint import load_checkpoint
    from training.model_readme import readme_text

    folder = CARD.parent
    card = json.loads(CARD.read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    rc_path = folder / "realct_check.json"
    realct = json.loads(rc_path.read_text()) if rc_path.is_file() else None
    assert (folder / "README.md").read_text() == readme_text(card, metrics, card["command"], realct)
    ck = load_checkpoint(folder / "ichviewer-densenet.pt")
    assert ck.sha256 == metrics["sha256"]
    assert ck.mirror_average is bool(metrics.get("mirror_average"))
    assert ck.study_threshold == pytest.approx(metrics["study"]["threshold"])
    if realct is not None:  # the real-CT check was run on this very file
        assert realct["model"]["sha256"] == ck.sha256
    assert ck.thresholds == pytest.approx(metrics["thresholds"])
    assert ck.context is not None and ck.context.to_dict() == metrics["slice_context"]
    assert ck.slice_thresholds == pytest.approx(metrics["slice_thresholds"])


def test_members_train_side_by_side_on_a_cpu_with_a_core_each(monkeypatch):
    from training import bundled

    monkeypatch.setattr(bundled, "usable_cores", lambda: 2)
    args = bundled_parser().parse_args(["--device", "cpu"])
    assert bundled.member_threads(args, 2) == 1  # two cores: one each
    assert bundled.member_threads(args, 1) is None  # one network: all cores to it
    assert bundled.member_threads(args, 3) is None  # fewer cores than members
    assert bundled.member_threads(bundled_parser().parse_args(["--device", "cuda"]), 2) is None
    seq = bundled_parser().parse_args(["--device", "cpu", "--sequential-members"])
    assert bundled.member_threads(seq, 2) is None
    monkeypatch.setattr(bundled, "usable_cores", lambda: 8)
    assert bundled.member_threads(args, 2) == 4


@pytest.mark.slow
def test_a_tiny_two_member_build_trains_both_side_by_side_and_ships_their_ensemble(tmp_path):
    from training import bundled

    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["--work", str(work), "--out", str(out), "--studies", "10", "--test-studies", "3"]
    argv += ["--epochs", "1", "--size", "64", "--synth-size", "64", "--device", "cpu"]
    argv += ["--workers", "1"]  # synthesis in this process: no fork of a threaded pytest
    args = bundled_parser().parse_args([*argv, "--no-progress", "--realct"])
    if bundled.member_threads(args, 2) is None:
        pytest.skip("one CPU core: members train one after another")
    metrics = bundled.main(args)
    for run in ("run", "run-seed1"):  # each member trained in its own process and folder
        log = (work / run / "log.txt").read_text()
        assert "epoch 0" in log
    card = json.loads((out / "model_card.json").read_text())
    assert card["fit_args"]["seed"] == [0, 1] and card["arch_kwargs"]["members"] == 2
    assert metrics["training_wall_s"] > 0 and metrics["training_time_s"] > 0
    # The members leave threshold choice to the ensemble, and a second run reuses them.
    import torch

    state = torch.load(work / "run" / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["thresholds"] == {} and "val_metrics" in state
    logs = [(work / run / "log.jsonl").read_text() for run in ("run", "run-seed1")]
    bundled.main(args)
    assert [(work / run / "log.jsonl").read_text() for run in ("run", "run-seed1")] == logs
