"""Shared fixtures of the AI tests: a tiny DenseNet checkpoint and a small DICOM study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydicom.uid import generate_uid

from ichviewer.ai.checkpoint import save_checkpoint
from ichviewer.ai.network import DenseNetCAM, build_model
from ichviewer.ai.preprocess import PreprocessSpec
from ichviewer.core.slice_context import SliceContext, identity_context
from tests.dicom_factory import ct_dataset

TINY = {"growth_rate": 8, "block_config": (2, 2), "num_init_features": 16}
SIZE = 64


@pytest.fixture(autouse=True)
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The result cache of each test lives in its own folder, never the user's."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ICHVIEWER_CACHE_DIR", str(root))
    return root


def randomise_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics (eval-mode outputs then differ per input)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def tiny_model(seed: int = 0) -> DenseNetCAM:
    """A small DenseNet with non-trivial norm statistics and head (distinct probabilities)."""
    torch.manual_seed(seed)
    model = randomise_norms(build_model("densenet", **TINY))
    with torch.no_grad():
        model.classifier.weight.mul_(8.0)
        model.classifier.bias.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_spec() -> PreprocessSpec:
    return PreprocessSpec(size=SIZE, mode="linear", mean=(0.3, 0.3, 0.2), std=(0.3, 0.3, 0.2))


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory, tiny_spec: PreprocessSpec) -> Path:
    """A valid checkpoint file (do not modify it; copy it first)."""
    return _save_tiny(tmp_path_factory.mktemp("ckpt") / "tiny.pt", tiny_spec, "tiny-test")


def _save_tiny(path: Path, spec: PreprocessSpec, name: str, **kw: object) -> Path:
    """tiny_model() saved with thresholds 0.5 (``kw`` overrides them or adds a stage)."""
    kw.setdefault("thresholds", [0.5] * 6)
    card = {"name": name, "training_data": "synthetic phantoms", "command": "pytest"}
    save_checkpoint(path, tiny_model(), spec, card=card, **kw)
    return path


def neighbour_context(pull: float = 1.5, bias: float = -1.0) -> SliceContext:
    """A series-context stage that visibly moves every label: each slice keeps its own logit
    and adds ``pull`` x the larger of its neighbours' 5 mm away, plus ``bias``."""
    base = identity_context((5.0, 10.0))
    w = base.weight.copy()
    for c in range(6):
        w[c, 2 * 6 + c] = pull  # blocks: own, mean(5 mm), max(5 mm), mean(10), max(10)
    return SliceContext(base.distances_mm, w, np.full(6, bias))


@pytest.fixture(scope="session")
def ctx_ckpt(tmp_path_factory: pytest.TempPathFactory, tiny_spec: PreprocessSpec) -> Path:
    """tiny_ckpt's network with :func:`neighbour_context` (checkpoint version 2)."""
    return _save_tiny(
        tmp_path_factory.mktemp("ckpt") / "tiny-context.pt",
        tiny_spec,
        "tiny-context",
        thresholds=[0.6] * 6,
        slice_context=neighbour_context(),
        slice_thresholds=[0.5] * 6,
    )


def head_slice(size: int = SIZE, blob: bool = True, seed: int = 0) -> np.ndarray:
    """A head-like HU slice: air, skull, brain, optionally a bright (blood-like) blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    r = np.hypot(xx / 0.42, yy / 0.46)
    hu = np.full((size, size), -1000.0, dtype=np.float32)
    hu[r < 1.0] = 1000.0
    hu[r < 0.9] = 35.0
    if blob:
        hu[np.hypot(xx - 0.12 + 0.02 * seed, yy + 0.05) < 0.08] = 75.0
    return hu + rng.normal(0, 3, hu.shape).astype(np.float32)


def write_ct_series(
    folder: Path,
    n: int = 5,
    size: int = SIZE,
    description: str = "test head",
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
) -> list[str]:
    """Write ``n`` CT slices (slices 2 and 3 hold a blob); returns their SOP UIDs, inferior
    first. InstanceNumber runs backwards so that sorting by position matters."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    uids = []
    for k in range(n):
        hu = head_slice(size, blob=k in (2, 3), seed=k)
        ds = ct_dataset(
            hu,
            z=5.0 * k,
            instance=n - k,
            series_uid=series_uid,
            study_uid=study_uid,
            description=description,
            signed=True,
        )
        ds.save_as(folder / f"slice{k:03d}.dcm", enforce_file_format=True)
        uids.append(str(ds.SOPInstanceUID))
    return uids


@pytest.fixture()
def dicom_study(tmp_path: Path) -> tuple[Path, list[str]]:
    """A folder with 5 CT slices (2 with a blob) and their SOP UIDs, inferior first."""
    folder = tmp_path / "study"
    return folder, write_ct_series(folder)
