"""Values several layers share, defined once (the lowest layer that needs them)."""

from __future__ import annotations

#: Physical floor of CT: air. Lower values are outside-FOV padding (RSNA stores -2000, which
#: is -3024 HU with its intercept) and become air so statistics and resizing are not skewed.
AIR_HU = -1024.0

#: What every AI result says about itself (reports, exports, the model card's intended use).
DISCLAIMER = "Not for diagnostic use"

#: Where the network may run: ``auto`` picks CUDA when there is one, else the CPU.
DEVICES = ("auto", "cpu", "cuda")
