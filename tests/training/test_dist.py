"""Distributed training: sharding, and two gloo processes under torchrun staying in sync."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ichviewer.ai.network import build_model
from training.dist import ShardSampler, gather_rows, weights_digest
from training.synthetic import synth

REPO = Path(__file__).resolve().parents[2]


class TestShardSampler:
    def test_ranks_split_the_epoch_without_overlap(self):
        parts = []
        for rank in range(3):
            s = ShardSampler(10, rank=rank, world_size=3, seed=1)
            s.set_epoch(4)
            parts.append(list(s))
        assert all(len(p) == 4 for p in parts)  # padded like DistributedSampler
        assert set(parts[0] + parts[1] + parts[2]) == set(range(10))

    def test_epochs_reshuffle_deterministically(self):
        s = ShardSampler(50, seed=3)
        s.set_epoch(0)
        e0 = list(s)
        s.set_epoch(1)
        assert list(s) != e0
        s.set_epoch(0)
        assert list(s) == e0

    def test_unshuffled_evaluation_sees_each_row_once(self):
        rows = [list(ShardSampler(7, rank=r, world_size=2, shuffle=False)) for r in range(2)]
        assert sorted(rows[0] + rows[1]) == list(range(7))

    def test_weighted_draws_follow_weights(self):
        w = np.r_[np.full(10, 0.5 / 10), np.full(90, 0.5 / 90)]
        s = ShardSampler(100, weights=w, seed=0)
        drawn = np.array(list(s))
        assert len(drawn) == 100 and 0.3 < (drawn < 10).mean() < 0.7

    def test_gather_rows_single_process(self):
        out = gather_rows(np.array([2, 0, 1]), np.array([[3.0], [1.0], [2.0]]), 3)
        assert out[:, 0].tolist() == [1.0, 2.0, 3.0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_gloo_ranks_end_identical(tmp_path):
    synth(tmp_path / "data", 4, seed=31, layout="series", size=48)  # one is a thick series
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "training",
        "fit",
        "--data",
        str(tmp_path / "data"),
        "--split",
        "0.67",
        "0.33",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--output-dir",
        str(out),
        "--device",
        "cpu",
        "--arch",
        "densenet",
        "--growth-rate",
        "4",
        "--block-config",
        "2",
        "2",
        "--num-init-features",
        "8",
        "--size",
        "32",
        "--batch-size",
        "8",
        "--epochs",
        "2",
        "--max-steps",
        "3",
        "--workers",
        "0",
        "--threads",
        "1",
        "--amp",
        "off",
        "--no-progress",
        "--no-imagenet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [0, 1]
    assert all(r["train"]["steps"] == 3 for r in records if r["event"] == "epoch")
    digests = records[-1]["rank_weight_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]
    # ...and the checkpoint rank 0 saved holds exactly those weights
    state = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=True)
    model = build_model(state["arch"], **state["arch_kwargs"])
    model.load_state_dict(state["model"])
    assert weights_digest(model) == digests[0]
    assert state["args"]["batch_size"] == 8
