"""File received instances as DIR/<study>/<series>/<SOPInstanceUID>.dcm, atomically, and
never over an instance already there.

Folder and file names come from UIDs only (digits and dots, at most 64 characters); anything
else a peer sends (too long, other characters, ``..``) becomes ``x`` + a SHA-256 prefix of
it, so no name from the wire can leave DIR, and no patient name or ID ever becomes a path.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("ichviewer.net")

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: The triage report written beside a scored study's series folders.
REPORT_NAME = "ai-report.json"


def safe_name(uid: object) -> str:
    """A folder or file name for a UID: the UID itself when it is a plain UID, else a hash."""
    text = str(uid or "").strip().rstrip("\x00")
    if _UID_RE.match(text) and len(text) <= 64:
        return text
    return "x" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass(frozen=True)
class Filed:
    """Where an instance went; ``duplicate`` when one with its SOP Instance UID was
    already stored (the first is kept, the new copy dropped)."""

    path: Path
    study_dir: Path
    duplicate: bool


class InstanceStore:
    """The folder tree a storage SCP (or a C-GET) files instances into."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # where os.link is unsupported, check + rename under it

    def study_dir(self, study_uid: object) -> Path:
        return self.root / safe_name(study_uid)

    def path_for(self, study_uid: object, series_uid: object, sop_uid: object) -> Path:
        return self.study_dir(study_uid) / safe_name(series_uid) / f"{safe_name(sop_uid)}.dcm"

    def file(self, data: bytes, study_uid: object, series_uid: object, sop_uid: object) -> Filed:
        """Write ``data`` (a DICOM file, as received) to its place. Atomic: a temp file in
        the same folder, fsync, then a hard link to the final name, which fails rather than
        replace a file that exists. Raises OSError when the disk refuses."""
        dest = self.path_for(study_uid, series_uid, sop_uid)
        study = self.study_dir(study_uid)
        if dest.exists():
            return Filed(dest, study, duplicate=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, dest)
            except FileExistsError:
                return Filed(dest, study, duplicate=True)
            except OSError:  # no hard links on this file system: same promise under a lock
                with self._lock:
                    if dest.exists():
                        return Filed(dest, study, duplicate=True)
                    os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return Filed(dest, study, duplicate=False)

    def studies(self) -> list[Path]:
        """Study folders under the root (name order)."""
        try:
            return sorted(
                p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        except OSError:
            return []
