"""Per-slice results cached on disk, keyed by SOP Instance UID and checkpoint SHA-256.

Layout: ``cache_dir()/results/<sha[:16]>/<h[:2]>/<h>.json`` with ``h`` the SHA-256 of the
UID (UIDs may hold characters a filesystem dislikes, and need not be readable in a cache).
Each entry is a few hundred bytes of JSON with its own checksum; an entry that does not parse
strictly, has the wrong shape or fails its checksum is deleted and reported as a miss, so the
slice is scored again and the entry rewritten. Only probabilities are cached; CAMs are
recomputed on demand (they are large, and cheap next to a study's worth of disk).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ichviewer.core.labels import LABELS
from ichviewer.paths import atomic_write_bytes, cache_dir

logger = logging.getLogger("ichviewer.ai")

ENTRY_FORMAT = "ichviewer-result"
ENTRY_VERSION = 1
_ENTRY_KEYS = frozenset({"format", "version", "model", "uid", "p", "check"})
# atomic_write_bytes names its temp file by process id; threads of one process serialise here.
_WRITE_LOCK = threading.Lock()


def uid_key(uid: str) -> str:
    """Filesystem-safe, fixed-length name for a UID."""
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()


def _checksum(body: dict[str, Any]) -> str:
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


class ResultCache:
    """Probabilities of scored slices for one model (its SHA-256)."""

    def __init__(self, model_sha256: str, root: Path | None = None) -> None:
        if len(model_sha256) < 16:
            raise ValueError(f"model_sha256 looks wrong: {model_sha256!r}")
        self.model_sha256 = model_sha256
        self.dir = (root if root is not None else cache_dir() / "results") / model_sha256[:16]
        self.hits = 0
        self.misses = 0
        self.corrupt = 0

    def path_for(self, uid: str) -> Path:
        key = uid_key(uid)
        return self.dir / key[:2] / f"{key}.json"

    def get(self, uid: str) -> np.ndarray | None:
        """float32[6] probabilities, or None (never cached, or a bad entry now deleted)."""
        path = self.path_for(uid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as exc:
            logger.warning("cache entry unreadable (%s); scoring again", exc.strerror or exc)
            self.misses += 1
            return None
        probs = self._parse(data, uid_key(uid))
        if probs is None:
            self.corrupt += 1
            self.misses += 1
            logger.warning(
                "cache entry %s is corrupt; deleted, the slice is scored again", path.name
            )
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        self.hits += 1
        return probs

    def _parse(self, data: bytes, key: str) -> np.ndarray | None:
        try:
            entry = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            return None
        body = {k: v for k, v in entry.items() if k != "check"}
        if (
            entry["format"] != ENTRY_FORMAT
            or entry["version"] != ENTRY_VERSION
            or entry["model"] != self.model_sha256
            or entry["uid"] != key
            or entry["check"] != _checksum(body)
        ):
            return None
        p = entry["p"]
        if not isinstance(p, list) or len(p) != len(LABELS):
            return None
        if not all(isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0 for v in p):
            return None
        return np.asarray(p, dtype=np.float32)

    def put(self, uid: str, probabilities: np.ndarray) -> None:
        """Store one slice's probabilities (failures are logged: the cache is optional)."""
        p = np.asarray(probabilities, dtype=np.float32).reshape(-1)
        if p.shape != (len(LABELS),) or not np.isfinite(p).all():
            raise ValueError(f"expected {len(LABELS)} finite probabilities, got {p!r}")
        key = uid_key(uid)
        body = {
            "format": ENTRY_FORMAT,
            "version": ENTRY_VERSION,
            "model": self.model_sha256,
            "uid": key,
            "p": [float(v) for v in p],  # float32 -> float is exact and round-trips via JSON
        }
        body["check"] = _checksum(body)
        try:
            with _WRITE_LOCK:
                atomic_write_bytes(self.path_for(uid), json.dumps(body).encode("utf-8"))
        except OSError as exc:
            logger.warning("could not write cache entry (%s)", exc.strerror or exc)

    def clear(self) -> None:
        """Delete every entry of this model."""
        shutil.rmtree(self.dir, ignore_errors=True)
