"""Shared pieces of the AI viewer tests (tests/ui/test_ai_*.py): a small study whose slices
differ (blobs of blood-like HU of several sizes), a tiny DenseNet checkpoint whose operating
thresholds are chosen on that study so that some slices are flagged and some are not, and
waits on the window's AI. Fixtures are imported by the test modules that use them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import ANY
from tests.dicom_factory import ct_dataset

SIZE = 64
N_SLICES = 8
#: Blob radius (fraction of the image) per slice; 0 = no blob.
BLOBS = (0.0, 0.05, 0.12, 0.0, 0.09, 0.16, 0.03, 0.0)


def study_slice(k: int, seed: int = 0) -> np.ndarray:
    """HU of slice ``k``: air, skull, brain, a blob of BLOBS[k] radius, a little noise."""
    rng = np.random.default_rng(100 * seed + k)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE - 0.5
    r = np.hypot(xx / 0.42, yy / 0.46)
    hu = np.full((SIZE, SIZE), -1000.0, dtype=np.float32)
    hu[r < 1.0] = 1000.0
    hu[r < 0.9] = 35.0
    rad = BLOBS[(k + seed) % len(BLOBS)]
    if rad:
        hu[np.hypot(xx - 0.12 + 0.03 * (k % 3), yy + 0.05 - 0.02 * k / N_SLICES) < rad] = 78.0
    return hu + rng.normal(0, 3, hu.shape).astype(np.float32)


def write_study(folder: Path, n: int = N_SLICES, seed: int = 0) -> list[str]:
    """A CT series of ``n`` slices in ``folder``; returns SOP UIDs, inferior first."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(), generate_uid()
    uids = []
    for k in range(n):
        ds = ct_dataset(
            study_slice(k, seed),
            z=5.0 * k,
            instance=k + 1,
            series_uid=series_uid,
            study_uid=study_uid,
            description=f"AI TEST {seed}",
            signed=True,
        )
        ds.save_as(folder / f"im{k:03d}.dcm", enforce_file_format=True)
        uids.append(str(ds.SOPInstanceUID))
    return uids


def zip_folder(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
    return out


def _widest_gap(v: np.ndarray, candidates: range, min_gap: float) -> float:
    """A threshold in the widest gap of sorted ``v`` at one of ``candidates`` (the index of
    the first value above it); 1.0 (never fires) without a gap of ``min_gap``."""
    if len(candidates) == 0:
        return 1.0
    best = max(candidates, key=lambda c: v[c] - v[c - 1])
    gap = v[best] - v[best - 1]
    return float((v[best] + v[best - 1]) / 2) if gap >= min_gap else 1.0


def split_thresholds(probs: np.ndarray, min_gap: float = 0.006) -> list[float]:
    """Thresholds that fire on some slices and not on most, so float jitter cannot flip a
    flag: 'any' in the widest gap between sorted probabilities that leaves one to half of
    the slices above it; each subtype in the widest gap among the slices 'any' fires on (a
    subtype only fires there), leaving some of them above and some below. A label without
    a gap of ``min_gap`` never fires (1.0)."""
    n = len(probs)
    out = [1.0] * probs.shape[1]
    out[ANY] = _widest_gap(np.sort(probs[:, ANY]), range(n - n // 2, n), min_gap)
    bleeding = probs[probs[:, ANY] >= out[ANY]]
    for k in range(probs.shape[1]):
        if k != ANY:
            out[k] = _widest_gap(np.sort(bleeding[:, k]), range(1, len(bleeding)), min_gap)
    return out


def build_checkpoint(
    folder: Path, study: Path, name: str = "tiny-ui", seed: int = 3, context: object = None
) -> Path:
    """A tiny checkpoint with thresholds that split ``study``'s slices (with a series-context
    stage ``context``: thresholds that split its revised probabilities)."""
    import torch

    from ichviewer.ai.checkpoint import save_checkpoint
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.preprocess import PreprocessSpec
    from ichviewer.core.slice_context import logit
    from ichviewer.io import SeriesReader, scan
    from tests.ai.conftest import tiny_model

    spec = PreprocessSpec(size=SIZE, mode="linear", mean=(0.3, 0.3, 0.2), std=(0.3, 0.3, 0.2))
    card = {"name": name, "training_data": "synthetic phantoms", "command": "pytest"}
    model = tiny_model(seed)
    draft = folder / f"{name}-draft.pt"
    series = scan([study]).best_series()
    volume = SeriesReader(series).load_all()

    def predict() -> np.ndarray:
        save_checkpoint(draft, model, spec, [0.5] * len(LABELS), card)
        return np.stack([r.probabilities for r in Predictor(draft).predict(list(volume))])

    # A random head gives every slice nearly the same P(any); stretch its logits over
    # about -3..3 so 'any' (which every subtype flag needs) splits the study with room.
    z = logit(predict()[:, ANY])
    scale = 6.0 / max(float(np.ptp(z)), 1e-6)
    with torch.no_grad():
        model.classifier.weight[ANY] *= scale
        model.classifier.bias[ANY] = (model.classifier.bias[ANY] - float(np.median(z))) * scale
    probs = predict()
    path = folder / f"{name}.pt"
    if context is None:
        save_checkpoint(path, model, spec, split_thresholds(probs), card)
    else:
        shown = context.apply(probs, [ref.position_mm for ref in series.slices])
        save_checkpoint(
            path,
            model,
            spec,
            split_thresholds(shown),
            card,
            slice_context=context,
            slice_thresholds=split_thresholds(probs),
        )
    return path


@pytest.fixture(scope="session")
def ai_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ai_study")
    write_study(d)
    return d


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory, ai_study: Path) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("ai_ckpt"), ai_study)


@pytest.fixture
def ai_window(make_window, tiny_ckpt: Path):  # noqa: ANN001, ANN201
    """make_window with the tiny checkpoint as the model."""

    def make(**kw: object):  # noqa: ANN202
        kw.setdefault("model_path", tiny_ckpt)
        return make_window(**kw)

    return make


@pytest.fixture(name="win")
def scored_win(qtbot, ai_window, ai_study):  # noqa: ANN001, ANN201
    """``win``: a window with the tiny model, the test study open and every slice scored
    (import it where a module's tests all start from there)."""
    w = ai_window()
    open_scored(qtbot, w, [ai_study])
    return w


def engine_probabilities(ckpt: Path, study: Path) -> np.ndarray:
    """What the engine says about every slice of ``study`` (the reference for the panels)."""
    from ichviewer.ai.engine import load_predictor
    from ichviewer.io import SeriesReader, scan

    volume = SeriesReader(scan([study]).best_series()).load_all()
    return np.stack([r.probabilities for r in load_predictor(ckpt).predict(list(volume))])


def open_scored(qtbot, win, paths: list, timeout: int = 20_000, **kw) -> None:  # noqa: ANN001
    """Open a study and wait until it is loaded and every slice is scored."""
    with qtbot.waitSignal(win.loader.idle, timeout=timeout):
        win.open_paths([str(p) for p in paths], **kw)
    wait_scored(qtbot, win, timeout)


def wait_scored(qtbot, win, timeout: int = 20_000) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: win.ai.scoring_done and not win.loader.busy, timeout=timeout)
    win.ai.flush()


def wait_cam(qtbot, win, timeout: int = 10_000) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: win.ai.cam(win.current_index) is not None, timeout=timeout)
    qtbot.waitUntil(lambda: win.image_view.overlay_item.isVisible(), timeout=timeout)
