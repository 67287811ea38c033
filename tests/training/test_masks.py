"""Lesion masks from the generator supervise the class activation maps (`fit --mask-loss`)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch

from ichviewer.core.labels import SUBTYPES
from tests.training.test_train import _epochs, _fit
from training.augment import prepare_masked_batch
from training.engine import MaskedSlices, MaskLoss, cell_targets
from training.masks import build_mask_cache, mask_index, resize_bits
from training.synthetic import synth


def test_synth_writes_each_slices_mask_under_its_sop_uid(tmp_path):
    synth(tmp_path, 2, seed=21, layout="series", size=64)
    index = mask_index(tmp_path / "masks")
    files = sorted(tmp_path.glob("000*/*.dcm"))
    assert len(index) == len(files) > 0
    labels = {}
    for line in (tmp_path / "labels.csv").read_text().splitlines()[1:]:
        ident, v = line.rsplit(",", 1)
        labels[ident] = int(v)
    for f in files:
        uid = pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
        path, row = index[uid]
        with np.load(path) as z:
            m = z["masks"][row]
        for bit, name in enumerate(SUBTYPES):  # the label says what the mask holds
            assert bool(((m >> bit) & 1).any()) == bool(labels[f"ID_{uid}_{name}"])


def test_shrinking_keeps_a_thin_lesion_and_its_subtype():
    m = np.zeros((512, 512), np.uint8)
    m[100:300, 250] = 1 << SUBTYPES.index("subdural")  # 1 px wide
    m[400:420, 400:420] = 1 << SUBTYPES.index("epidural")
    small = resize_bits(m, 128)
    assert small.shape == (128, 128)
    assert ((small >> SUBTYPES.index("subdural")) & 1)[25:75, 62:63].all()
    assert ((small >> SUBTYPES.index("epidural")) & 1)[100:105, 100:105].all()
    used = (1 << SUBTYPES.index("subdural")) | (1 << SUBTYPES.index("epidural"))
    assert not (small & ~np.uint8(used)).any()  # no other subtype appears


def test_mask_cache_follows_the_slice_order_and_marks_slices_without_masks(tmp_path):
    from ichviewer.io import SliceRef

    masks = np.zeros((2, 32, 32), np.uint8)
    masks[1, 5, 5] = 4
    from training.masks import write_study_masks

    write_study_masks(tmp_path / "masks", "0000", ["1.2.3", "1.2.4"], masks)
    index = mask_index(tmp_path / "masks")

    def ref(uid: str) -> SliceRef:
        return SliceRef(f"/x/{uid}.dcm", 0, sop_instance_uid=uid, rows=32, columns=32)

    refs = [ref("1.2.4"), ref("9.9"), ref("1.2.3")]
    cache = build_mask_cache(refs, index, 32, tmp_path / "cache", name="t")
    assert cache.has.tolist() == [True, False, True]
    arr = cache.open()
    assert arr[0, 5, 5] == 4 and arr[0].sum() == 4 and not arr[1].any() and not arr[2].any()


def test_cell_targets_mark_the_cell_holding_the_lesion():
    planes = torch.zeros(1, 5, 64, 64)
    planes[0, 3, 20, 40] = 1.0  # subarachnoid, one pixel
    t = cell_targets(planes, (4, 4))
    assert t.shape == (1, 6, 4, 4)
    assert t[0, 3].nonzero().tolist() == [[1, 2]]
    assert torch.equal(t[0, 5], t[0, 3]) and t[0, :3].sum() == 0


def test_mask_loss_counts_only_rows_with_a_mask():
    maps = torch.randn(2, 6, 4, 4)
    t = torch.zeros(2, 6, 4, 4)
    loss = MaskLoss()
    one = loss(maps[:1], t[:1], torch.tensor([True]))
    assert loss(maps, t, torch.tensor([True, False])).item() == pytest.approx(one.item())
    assert loss(maps, t, torch.tensor([False, False])).item() == 0.0


def test_masks_move_with_the_augmented_image(tmp_path):
    x = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    x[:, :, 10:20, 30:40] = 255
    m = torch.zeros(2, 64, 64, dtype=torch.uint8)
    m[:, 10:20, 30:40] = 1
    from ichviewer.ai.preprocess import PreprocessSpec

    spec = PreprocessSpec(size=64, mean=(0.0,) * 3, std=(1.0,) * 3)
    gen = torch.Generator().manual_seed(3)
    inp, planes = prepare_masked_batch(x, m, spec, gen, {"rotate_deg": 15, "shift": 0.1})
    bright = inp[:, 0] > 0.5
    lesion = planes[:, 0] > 0.5
    assert not torch.equal(bright[0], (x[0, 0] > 0))  # it did move ...
    assert (bright == lesion).float().mean() > 0.99  # ... and the mask with it


def test_fit_with_mask_loss_lowers_it_and_logs_it(tmp_path_factory, tmp_path):
    root = tmp_path_factory.mktemp("masked")
    synth(root / "train", 4, seed=21, layout="series", size=64)
    synth(root / "test", 1, seed=22, layout="series", size=64)
    folders = {"train": root / "train", "test": root / "test", "cache": root / "cache"}
    _fit(folders, tmp_path, "--epochs", "3", "--lr", "3e-3", "--pool", "lse", "--mask-loss", "1")
    mask_losses = [r["train"]["mask_loss"] for r in _epochs(tmp_path)]
    assert len(mask_losses) == 3 and mask_losses[-1] < mask_losses[0]
    state = torch.load(tmp_path / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert state["args"]["mask_loss"] == 1.0 and state["arch_kwargs"]["pool"] == "lse"
    from ichviewer.ai.checkpoint import load_checkpoint
    from training import export

    out = tmp_path / "masked.pt"
    ck = str(tmp_path / "checkpoint.pth")
    export.main(export.get_args_parser().parse_args(["--checkpoint", ck, "--out", str(out)]))
    card = load_checkpoint(out).card  # the card says how the heatmap was taught
    assert "log-sum-exp" in card["supervision"] and "lesion masks" in card["supervision"]


def test_masked_dataset_refuses_a_mask_cache_of_another_length(tmp_path):
    from training.cache import CacheFile
    from training.masks import MaskCache

    cache = CacheFile(tmp_path / "x.npy", "k", 3, 8)
    with pytest.raises(ValueError, match="3 cached slices but 2 mask rows"):
        MaskedSlices(cache, np.zeros((3, 6)), MaskCache(tmp_path / "m.npy", np.ones(2, bool)))


def test_conspicuous_measures_each_labels_blood_in_mm2(tmp_path):
    """A slice counts towards a threshold's sensitivity for a label only where that label's
    blood covers the area asked for, at the slice's own pixel spacing; a slice without a
    mask counts (nothing says it is faint)."""
    from ichviewer.core.labels import LABELS
    from ichviewer.io import SliceRef
    from training.masks import conspicuous, write_study_masks

    sdh, edh = 1 << SUBTYPES.index("subdural"), 1 << SUBTYPES.index("epidural")
    masks = np.zeros((2, 32, 32), np.uint8)
    masks[0, :5, :5] = sdh  # 25 px
    masks[1, :2, :2] = edh  # 4 px
    masks[1, 10:14, 10:14] |= sdh  # 16 px
    write_study_masks(tmp_path / "masks", "0000", ["1.1", "1.2"], masks)
    index = mask_index(tmp_path / "masks")

    def ref(uid: str, ps: float) -> SliceRef:
        return SliceRef(f"/x/{uid}.dcm", 0, uid, 32, 32, pixel_spacing=(ps, ps))

    # 1 mm pixels: 25 and 16 mm2 of subdural, 4 of epidural, 20 of blood in all
    c = conspicuous([ref("1.1", 1.0), ref("1.2", 1.0), ref("7.7", 1.0)], index, 20.0)
    col = {n: c[:, LABELS.index(n)].tolist() for n in ("subdural", "epidural", "any")}
    assert col == {
        "subdural": [True, False, True],
        "epidural": [False, False, True],
        "any": [True, True, True],
    }
    # 2 mm pixels: every area x4
    c2 = conspicuous([ref("1.1", 2.0), ref("1.2", 2.0)], index, 20.0)
    assert c2[:, LABELS.index("subdural")].tolist() == [True, True]
    assert conspicuous([ref("7.7", 1.0)], index, 20.0) is None


def test_only_rows_with_a_lesion_are_resampled_and_each_keeps_its_own_affine():
    # Resampling the planes of lesion rows alone must give what warping every row with its
    # image's affine gives: row i's blood lies where row i's image moved.
    from ichviewer.ai.preprocess import PreprocessSpec, standardize
    from training.augment import bits_to_planes, random_affine, warp

    x = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    m = torch.zeros(4, 64, 64, dtype=torch.uint8)
    m[1, 10:20, 30:40] = 1  # epidural
    m[3, 40:50, 5:15] = 16  # subdural
    spec = PreprocessSpec(size=64, mean=(0.0,) * 3, std=(1.0,) * 3)
    aug = {"rotate_deg": 15, "shift": 0.1}
    inp, planes = prepare_masked_batch(x, m, spec, torch.Generator().manual_seed(5), aug)
    theta = random_affine(4, torch.Generator().manual_seed(5), **aug)
    full = warp(torch.cat([x.float() / 255.0, bits_to_planes(m)], dim=1), theta)
    assert torch.equal(planes, full[:, 3:])
    assert torch.equal(inp, standardize(full[:, :3], spec))
    assert planes[1, 0].sum() > 50 and planes[3, 4].sum() > 50 and not planes[[0, 2]].any()
