"""fit --faint-px: a sliver of labelled blood is left out of the loss, a visible bleed is not."""

from __future__ import annotations

import torch

from training.engine import WeightedBCE, faint_lesion_keep


def _planes(areas: list[int], size: int = 32) -> torch.Tensor:
    """One slice: subtype i's blood covers areas[i] pixels (in a row at the top-left)."""
    p = torch.zeros(1, 5, size, size)
    for i, a in enumerate(areas):
        p[0, i].view(-1)[:a] = 1.0
    return p


def test_a_sliver_is_left_out_and_a_bleed_is_kept():
    keep = faint_lesion_keep(_planes([0, 3, 0, 40, 0]), min_px=12)
    # epidural absent: kept (a true negative); IPH 3 px: out; SAH 40 px: kept; any: kept
    assert keep.tolist() == [[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]]
    only_sliver = faint_lesion_keep(_planes([0, 3, 0, 0, 0]), min_px=12)
    assert only_sliver.tolist() == [[1.0, 0.0, 1.0, 1.0, 1.0, 0.0]]  # 'any' out too
    assert faint_lesion_keep(_planes([0, 0, 0, 0, 0]), min_px=12).tolist() == [[1.0] * 6]


def test_left_out_labels_give_no_gradient():
    loss_fn = WeightedBCE()
    logits = torch.zeros(1, 6, requires_grad=True)
    target = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]])
    keep = faint_lesion_keep(_planes([0, 3, 0, 40, 0]), min_px=12)
    loss_fn(logits, target, keep).backward()
    g = logits.grad[0]
    assert g[1] == 0  # the sliver teaches nothing
    assert g[3] < 0 and g[5] < 0  # the visible bleed and 'any' still pull P up
    assert g[0] > 0  # a true negative still pulls P down
    full = WeightedBCE()(logits.detach(), target)
    assert loss_fn(logits.detach(), target, keep) < full


def test_fit_with_faint_px_trains_and_records_it(tmp_path_factory, tmp_path):
    """Without the mask loss too: --faint-px alone reads the lesion masks it needs."""
    from tests.training.test_train import _epochs, _fit
    from training.synthetic import synth

    root = tmp_path_factory.mktemp("faint")
    synth(root / "train", 3, seed=31, layout="series", size=64)
    synth(root / "test", 1, seed=32, layout="series", size=64)
    folders = {"train": root / "train", "test": root / "test", "cache": root / "cache"}
    _fit(folders, tmp_path, "--epochs", "1", "--faint-px", "12", "--keep-epochs")
    (record,) = _epochs(tmp_path)
    assert (tmp_path / "epoch0.pth").is_file()  # --keep-epochs
    assert record["train"]["images"] > 0 and "mask_loss" not in record["train"]
    state = torch.load(tmp_path / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["args"]["faint_px"] == 12
