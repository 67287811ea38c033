"""What a network was trained on, in words, for its checkpoint and model card.

The same recipe on other hardware (another CPU's vector units, a GPU's kernels, another
thread count) sums in another order, so the weights come out as another draw: a card that
says where its networks were trained tells a reader which rebuild can reproduce it bit for
bit and which only statistically.
"""

from __future__ import annotations

import torch

from ichviewer.core.cpu import usable_cores


def cpuinfo_line(key: str) -> str:
    """The first line of /proc/cpuinfo that starts with ``key`` ("" off Linux or if none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln for ln in fh if ln.startswith(key)), "")
    except OSError:
        return ""


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else the platform's word for it."""
    line = cpuinfo_line("model name")
    if line:
        return " ".join(line.split(":", 1)[1].split())
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def describe(device: torch.device, world_size: int, autocast: torch.dtype | None) -> str:
    """One line: the device(s) and processes that trained, and the autocast dtype."""
    amp = "float32" if autocast is None else f"{autocast} autocast".replace("torch.", "")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return (
            f"{world_size} x {name} (CUDA {torch.version.cuda}), {amp}, torch {torch.__version__}"
        )
    procs = f"{world_size} processes" if world_size > 1 else "1 process"
    return (
        f"CPU: {cpu_name()}, {usable_cores()} usable cores, {procs} of "
        f"{torch.get_num_threads()} thread(s), {amp}, torch {torch.__version__}"
    )


def combine(parts: list[str | None]) -> str | None:
    """The ensemble's line from its members' lines (one when they agree)."""
    if not any(parts):
        return None
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1:
        suffix = f" (each of the {len(parts)} members)" if len(parts) > 1 else ""
        return unique[0] + suffix
    return "; ".join(f"member {i}: {p or 'not recorded'}" for i, p in enumerate(parts))
