"""The model card's 'hardware' line: what a reader needs to know whether a rebuild can give
the same weights bit for bit (same hardware) or only another draw of the recipe."""

from __future__ import annotations

import pytest
import torch

from training import hardware


def test_cpu_line_names_the_processor_threads_and_precision():
    line = hardware.describe(torch.device("cpu"), 1, torch.bfloat16)
    assert line.startswith(f"CPU: {hardware.cpu_name()}, ")
    assert f"{torch.get_num_threads()} thread(s)" in line and "bfloat16 autocast" in line
    assert "float32" in hardware.describe(torch.device("cpu"), 2, None)
    assert "2 processes" in hardware.describe(torch.device("cpu"), 2, None)


def test_ensemble_line_says_when_members_were_trained_apart():
    assert hardware.combine(["CPU: X", "CPU: X"]) == "CPU: X (each of the 2 members)"
    mixed = hardware.combine(["CPU: X", "1 x NVIDIA H200 (CUDA 13.0)"])
    assert mixed == "member 0: CPU: X; member 1: 1 x NVIDIA H200 (CUDA 13.0)"
    assert hardware.combine([None, None]) is None  # checkpoints from before the field
    assert hardware.combine(["CPU: X", None]) == "member 0: CPU: X; member 1: not recorded"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_line_names_the_gpu():
    line = hardware.describe(torch.device("cuda", 0), 1, torch.bfloat16)
    assert torch.cuda.get_device_name(0) in line and "CUDA" in line
