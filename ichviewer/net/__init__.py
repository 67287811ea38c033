"""The reading room's PACS: a storage SCP that files and scores what arrives, query and
retrieve (C-FIND, C-GET, C-MOVE), and the AI result as DICOM (SR, KOS, secondary captures).

No Qt, no torch at import: scoring and the heatmaps of the secondary captures import the AI
engine when they first run. Patient names and IDs never go into a path or a log line; study
and series folders are named by their UIDs (or a hash of anything that is not a plain UID).

    from ichviewer.net import Receiver
    rx = Receiver("/srv/ich/incoming", port=11112, aet="ICHVIEWER", score=True)
    rx.start()
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PacsNode": "nodes",
    "PeerError": "nodes",
    "nodes_from_config": "nodes",
    "InstanceStore": "filing",
    "StorageSCP": "store",
    "Receiver": "receiver",
    "score_study": "scoring",
    "echo": "query",
    "find_studies": "query",
    "get_study": "query",
    "move_study": "query",
    "send_files": "query",
    "write_dicom_results": "results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ichviewer.net' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ichviewer.net.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
