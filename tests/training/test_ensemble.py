"""`python -m training ensemble`: two tiny `fit` runs of one recipe (two seeds) become one
viewer checkpoint whose card says what it is made of."""

from __future__ import annotations

import pytest
import torch

from ichviewer.ai.checkpoint import load_checkpoint
from ichviewer.ai.predictor import Predictor
from tests.ai.conftest import head_slice
from tests.training.test_train import _fit, folders  # noqa: F401 (folders is a fixture)
from training import evaluate, export
from training.cli import main as training_main


@pytest.fixture(scope="module")
def runs(folders, tmp_path_factory):  # noqa: F811 (the imported fixture)
    out = {}
    for seed in (0, 1):
        out[seed] = tmp_path_factory.mktemp(f"seed{seed}")
        _fit(folders, out[seed], "--epochs", "1", "--seed", str(seed))
    return out


def test_two_seeds_become_one_viewer_checkpoint(runs, tmp_path):
    ens = tmp_path / "ens" / "checkpoint.pth"
    argv = ["ensemble", "--out", str(ens)]
    for seed in (0, 1):
        argv += ["--checkpoint", str(runs[seed] / "checkpoint.pth")]
    assert training_main(argv) == 0
    state = torch.load(ens, map_location="cpu", weights_only=True)
    assert state["arch_kwargs"]["members"] == 2 and [m["seed"] for m in state["members"]] == [0, 1]
    assert "optimizer" not in state  # a member's optimiser state does not describe the pair

    metrics = evaluate.main(
        evaluate.get_args_parser().parse_args(
            ["--checkpoint", str(ens), "--rechoose-thresholds", "--no-progress", "--realct"]
        )
    )
    pt = tmp_path / "pair.pt"
    export.main(
        export.get_args_parser().parse_args(
            [
                "--checkpoint",
                str(ens),
                "--metrics",
                str(ens.parent / "eval" / "metrics.json"),
                "--out",
                str(pt),
            ]
        )
    )
    ck = load_checkpoint(pt)
    assert ck.arch_kwargs["members"] == 2
    assert "fit seeds 0, 1" in ck.card["ensemble"]
    # where the networks were trained: the card says so (a GPU build says which GPU)
    assert (
        ck.card["hardware"].startswith("CPU: ") and "each of the 2 members" in ck.card["hardware"]
    )
    assert [m["hardware"] for m in state["members"]] == [ck.card["hardware"].split(" (each")[0]] * 2
    assert ck.thresholds == pytest.approx(metrics["thresholds"])
    pred = Predictor(pt, device="cpu", precision="fp32")
    assert pred.describe()["members"] == 2
    single = Predictor(_export(runs[0], tmp_path), device="cpu", precision="fp32")
    hu = head_slice(seed=2)
    assert (
        abs(pred.predict_one(hu).probabilities - single.predict_one(hu).probabilities).max() > 1e-4
    )


def _export(run, tmp_path):
    evaluate.main(
        evaluate.get_args_parser().parse_args(
            ["--checkpoint", str(run / "checkpoint.pth"), "--no-progress", "--realct"]
        )
    )
    out = tmp_path / "single.pt"
    export.main(
        export.get_args_parser().parse_args(
            ["--checkpoint", str(run / "checkpoint.pth"), "--out", str(out)]
        )
    )
    return out


def test_runs_of_another_recipe_or_the_same_seed_are_refused(folders, runs, tmp_path):  # noqa: F811
    other = tmp_path / "lr"
    _fit(folders, other, "--epochs", "1", "--seed", "2", "--lr", "5e-3")
    from training.ensemble import combine

    with pytest.raises(
        ValueError,
        match=r"lr/checkpoint\.pth: trained differently from .*\(lr\); members must share",
    ):
        combine([runs[0] / "checkpoint.pth", other / "checkpoint.pth"], tmp_path / "x.pth")
    with pytest.raises(ValueError, match="share a seed"):
        combine([runs[0] / "checkpoint.pth", runs[0] / "checkpoint.pth"], tmp_path / "x.pth")
    assert not (tmp_path / "x.pth").exists()


def test_members_started_from_imagenet_make_an_ensemble_that_says_so(runs, tmp_path):
    paths = []
    for seed in (0, 1):
        state = torch.load(runs[seed] / "checkpoint.pth", map_location="cpu", weights_only=True)
        state["imagenet_init"] = True
        paths.append(tmp_path / f"m{seed}.pth")
        torch.save(state, paths[-1])
    from training.ensemble import combine

    assert combine(paths, tmp_path / "ens.pth")["imagenet_init"] is True
    plain = [runs[seed] / "checkpoint.pth" for seed in (0, 1)]
    assert combine(plain, tmp_path / "ens2.pth")["imagenet_init"] is False
