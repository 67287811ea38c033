"""Model input is a pure function of the HU slice and the checkpoint's spec (contract 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from ichviewer.ai.preprocess import (
    PreprocessSpec,
    preprocess,
    preprocess_array,
    preprocess_batch,
    standardize,
)
from ichviewer.core.windowing import SIGMOID_EPS
from tests.ai.conftest import head_slice

RAW = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # no normalisation: window values show


class _TrainingLikeDataset(Dataset):
    """How a training loop would wrap preprocess (ichviewer never re-implements it)."""

    def __init__(self, slices, spec):
        self.slices, self.spec = slices, spec

    def __len__(self):
        return len(self.slices)

    def __getitem__(self, i):
        return preprocess(self.slices[i], self.spec)


class TestPreprocess:
    def test_same_bytes_every_time_and_from_a_training_loader(self):
        spec = PreprocessSpec(size=64, mode="sigmoid", mean=(0.2, 0.3, 0.1), std=(0.3, 0.2, 0.1))
        slices = [head_slice(128, seed=i) for i in range(3)]
        first = preprocess(slices[0], spec)
        assert first.dtype == torch.float32 and first.shape == (3, 64, 64)
        assert first.numpy().tobytes() == preprocess(slices[0].copy(), spec).numpy().tobytes()
        batch = preprocess_batch(slices, spec)
        loaded = torch.cat(list(DataLoader(_TrainingLikeDataset(slices, spec), batch_size=2)))
        assert batch.numpy().tobytes() == loaded.numpy().tobytes()
        assert batch[0].numpy().tobytes() == first.numpy().tobytes()

    def test_known_hu_gives_known_linear_channels(self):
        spec = PreprocessSpec(size=16, mode="linear", **RAW)
        x = preprocess(np.full((32, 32), 40.0, np.float32), spec).numpy()
        # brain 40/80 -> 0.5; subdural 80/200 -> (40+20)/200; bone 600/2800 -> (40+800)/2800
        np.testing.assert_allclose(x[:, 0, 0], [0.5, 0.3, 0.3], rtol=1e-6)
        assert np.ptp(x, axis=(1, 2)).max() == 0

    def test_sigmoid_window_level_is_one_half_and_edges_one_255th(self):
        spec = PreprocessSpec(size=2, mode="sigmoid", **RAW)
        hu = np.array([[40.0, 0.0], [80.0, 40.0]], dtype=np.float32)  # size 2: no resize
        x = preprocess(hu, spec).numpy()[0]
        np.testing.assert_allclose(x, [[0.5, SIGMOID_EPS], [1 - SIGMOID_EPS, 0.5]], rtol=1e-5)

    def test_normalisation_uses_the_spec_mean_and_std(self):
        spec = PreprocessSpec(size=8, mode="linear", mean=(0.5, 0.1, 0.2), std=(0.25, 0.5, 2.0))
        x = preprocess(np.full((8, 8), 40.0, np.float32), spec).numpy()[:, 0, 0]
        np.testing.assert_allclose(
            x, [(0.5 - 0.5) / 0.25, (0.3 - 0.1) / 0.5, (0.3 - 0.2) / 2.0], rtol=1e-6, atol=1e-7
        )

    def test_shrinking_averages_blocks(self):
        spec = PreprocessSpec(size=2, mode="linear", **RAW)
        hu = np.zeros((4, 4), np.float32)
        hu[:2, :2] = 80.0  # top-left block: mean 80 -> brain window 1.0; others 0 HU -> 0.0
        hu[2:, 2:] = [[0, 80], [80, 0]]  # mean 40 -> 0.5 (box average, INTER_AREA)
        x = preprocess(hu, spec).numpy()[0]
        np.testing.assert_allclose(x, [[1.0, 0.0], [0.0, 0.5]], atol=1e-6)

    def test_enlarging_and_non_square_slices_reach_the_model_size(self):
        spec = PreprocessSpec(size=64)
        assert preprocess(head_slice(40), spec).shape == (3, 64, 64)
        assert preprocess(np.zeros((80, 50), np.float32), spec).shape == (3, 64, 64)

    def test_non_finite_pixels_read_as_air(self):
        spec = PreprocessSpec(size=4, **RAW)
        hu = np.full((4, 4), np.nan, np.float32)
        assert np.all(
            preprocess_array(hu, spec) == preprocess_array(np.full((4, 4), -1024.0), spec)
        )

    def test_not_a_slice_is_refused(self):
        with pytest.raises(ValueError, match="2-D"):
            preprocess(np.zeros((2, 4, 4), np.float32), PreprocessSpec(size=4))


class TestStandardize:
    SPEC = PreprocessSpec(size=16, mode="sigmoid", mean=(0.2, 0.3, 0.1), std=(0.3, 0.2, 0.7))

    def test_preprocess_is_the_windowed_channels_standardized(self):
        hu = head_slice(64, seed=3)
        windowed = preprocess_array(hu, PreprocessSpec(size=16, mode="sigmoid", **RAW))
        expected = standardize(windowed, self.SPEC)
        assert preprocess_array(hu, self.SPEC).tobytes() == expected.tobytes()

    def test_a_tensor_batch_gets_the_same_bytes_as_numpy(self):
        # What training does to its cached (N, 3, S, S) batches on the device.
        x = np.random.default_rng(0).random((2, 3, 4, 5), dtype=np.float32)
        on_numpy = standardize(x, self.SPEC)
        on_torch = standardize(torch.from_numpy(x), self.SPEC)
        assert on_torch.dtype == torch.float32 and on_numpy.dtype == np.float32
        assert on_torch.numpy().tobytes() == on_numpy.tobytes()

    def test_channels_last(self):
        x = np.ones((4, 4, 3), np.float32)
        np.testing.assert_allclose(
            standardize(x, self.SPEC, channel_axis=-1)[0, 0], [0.8 / 0.3, 0.7 / 0.2, 0.9 / 0.7]
        )
