"""Find candidate DICOM files in folders, file lists and zip archives.

A *source* is a string: a filesystem path, or ``"<archive.zip>!<member>"`` for a zip member.
Nothing here writes anywhere: zip members are read into memory, never extracted.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from ichviewer.errors import DicomReadError

ZIP_SEP = "!"

#: Extensions that are never DICOM; skipped quietly while walking a folder (a file named
#: explicitly by the user is always tried, and refused with a reason if it is not DICOM).
NOT_DICOM_SUFFIXES = frozenset(
    {
        ".txt",
        ".csv",
        ".json",
        ".md",
        ".xml",
        ".html",
        ".pdf",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".npz",
        ".npy",
        ".py",
        ".ini",
        ".log",
        ".db",
        ".exe",
    }
)
SKIP_NAMES = frozenset({"DICOMDIR", "Thumbs.db", ".DS_Store"})
#: No single file or zip member of a study is larger: bigger ones are refused by their size,
#: before any of it is read (an enhanced multi-frame CT of 1,000 512 x 512 slices is 0.5 GB).
MAX_SOURCE_BYTES = 1 << 30
#: A zip member is read into memory, so it gets a tighter bound (a zip bomb stops here).
MAX_MEMBER_BYTES = 512 << 20


def _skip_in_walk(name: str) -> bool:
    return (
        name.startswith(".")
        or name.upper() in SKIP_NAMES
        or name in SKIP_NAMES
        or Path(name).suffix.lower() in NOT_DICOM_SUFFIXES
    )


def _zip_split_at(source: str) -> int:
    """Index of the separator after the archive's ".zip" (-1: not a zip source). A '!' in
    a folder name before it, or in a member name after it, stays part of that name."""
    return source.lower().find(".zip" + ZIP_SEP) + 4 if ".zip" + ZIP_SEP in source.lower() else -1


def is_zip_source(source: str) -> bool:
    return _zip_split_at(source) > 0


def split_zip_source(source: str) -> tuple[str, str]:
    k = _zip_split_at(source)
    return source[:k], source[k + 1 :]


def _zip_members(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return [
            f"{archive}{ZIP_SEP}{info.filename}"
            for info in zf.infolist()
            if not info.is_dir()
            and not _skip_in_walk(Path(info.filename).name)
            and "__MACOSX" not in info.filename
        ]


def _regular_file(path: Path) -> str | None:
    """None for a regular file (links followed), else why it is not read."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops back on itself"
        if exc.errno == errno.ENOENT:
            return "a broken symbolic link (its target does not exist)"
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        return f"not a regular file ({kind}): skipped"
    if st.st_size > MAX_SOURCE_BYTES:
        return f"{st.st_size} bytes is larger than any image file of a study (limit {MAX_SOURCE_BYTES})"
    return None


def find_sources(paths: Iterable[str | os.PathLike]) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand folders (recursively), files and zip archives into a sorted source list.

    Returns ``(sources, errors)`` where errors are ``(path, reason)`` for paths that do not
    exist, folders that cannot be listed, files that are not regular files (pipes, devices,
    looping or broken links) or too large, and archives that cannot be opened.
    """
    sources: list[str] = []
    errors: list[tuple[str, str]] = []

    def add_file(full: Path) -> None:
        why = _regular_file(full)
        if why is not None:
            errors.append((str(full), why))
        elif full.name.lower().endswith(".zip"):
            _add_zip(full, sources, errors)
        else:
            sources.append(str(full))

    def walk_error(exc: OSError) -> None:
        errors.append((str(exc.filename), f"folder cannot be read ({exc.strerror or exc})"))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p, onerror=walk_error):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not _skip_in_walk(name):
                        add_file(Path(root) / name)
        elif p.exists() or p.is_symlink():
            add_file(p)
        else:
            errors.append((str(p), "no such file or folder"))
    # De-duplicate while keeping order (a file named twice is read once).
    return list(dict.fromkeys(sources)), errors


def _add_zip(path: Path, sources: list[str], errors: list[tuple[str, str]]) -> None:
    try:
        sources.extend(_zip_members(path))
    except (zipfile.BadZipFile, OSError) as exc:
        errors.append((str(path), f"cannot open zip archive ({exc})"))


def open_source(source: str) -> str | io.BytesIO:
    """Something pydicom.dcmread accepts: the path itself, or the zip member's bytes.

    Raises DicomReadError (naming the source) for a member that is encrypted, corrupt or
    larger than :data:`MAX_MEMBER_BYTES` (read no further than that), or unreadable.
    """
    if not is_zip_source(source):
        return source
    archive, member = split_zip_source(source)
    name = display_name(source)
    try:
        with zipfile.ZipFile(archive) as zf:
            info = zf.getinfo(member)
            if info.flag_bits & 0x1:
                raise DicomReadError(
                    name, "zip member is encrypted (password protected): extract it first"
                )
            if info.file_size > MAX_MEMBER_BYTES:
                raise DicomReadError(
                    name,
                    f"zip member unpacks to {info.file_size} bytes, more than any image file "
                    f"of a study (limit {MAX_MEMBER_BYTES}): not read",
                )
            with zf.open(info) as fh:
                data = fh.read(MAX_MEMBER_BYTES + 1)
            if len(data) > MAX_MEMBER_BYTES:
                raise DicomReadError(
                    name, "zip member unpacks to more than its header says: not read"
                )
            return io.BytesIO(data)
    except DicomReadError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        why = "its CRC check failed" if "CRC" in str(exc) else "it is truncated or damaged"
        raise DicomReadError(name, f"zip member is corrupt ({why})") from None
    except KeyError:
        raise DicomReadError(name, "zip member is missing from the archive") from None
    except NotImplementedError:
        raise DicomReadError(
            name, "zip member uses a compression method that cannot be read"
        ) from None
    except RuntimeError as exc:  # zipfile's "is encrypted, password required"
        raise DicomReadError(
            name,
            f"zip member cannot be read ({'encrypted' if 'encrypt' in str(exc) else 'damaged'})",
        ) from None
    except OSError as exc:
        raise DicomReadError(name, f"cannot open ({exc.strerror or exc})") from None


def display_name(source: str) -> str:
    """Short, user-facing name of a source (file name, or archive.zip!member)."""
    if is_zip_source(source):
        archive, member = split_zip_source(source)
        return f"{Path(archive).name}{ZIP_SEP}{member}"
    return source
