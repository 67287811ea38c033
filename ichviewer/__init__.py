"""ICH Viewer: a head-CT reader with an AI second opinion (not for diagnostic use)."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger("ichviewer").addHandler(logging.NullHandler())
