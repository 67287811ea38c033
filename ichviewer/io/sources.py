"""Find candidate DICOM files in folders, file lists and zip archives.

A *source* is a string: a filesystem path, or ``"<archive.zip>!<member>"`` for a zip member.
Nothing here writes anywhere: zip members are read into memory, never extracted.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

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


def _skip_in_walk(name: str) -> bool:
    return (
        name.startswith(".")
        or name.upper() in SKIP_NAMES
        or name in SKIP_NAMES
        or Path(name).suffix.lower() in NOT_DICOM_SUFFIXES
    )


def is_zip_source(source: str) -> bool:
    return ZIP_SEP in source and source.split(ZIP_SEP, 1)[0].lower().endswith(".zip")


def split_zip_source(source: str) -> tuple[str, str]:
    archive, member = source.split(ZIP_SEP, 1)
    return archive, member


def _zip_members(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return [
            f"{archive}{ZIP_SEP}{info.filename}"
            for info in zf.infolist()
            if not info.is_dir()
            and not _skip_in_walk(Path(info.filename).name)
            and "__MACOSX" not in info.filename
        ]


def find_sources(paths: Iterable[str | os.PathLike]) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand folders (recursively), files and zip archives into a sorted source list.

    Returns ``(sources, errors)`` where errors are ``(path, reason)`` for paths that do not
    exist or archives that cannot be opened.
    """
    sources: list[str] = []
    errors: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if _skip_in_walk(name):
                        continue
                    full = Path(root) / name
                    if name.lower().endswith(".zip"):
                        _add_zip(full, sources, errors)
                    else:
                        sources.append(str(full))
        elif p.is_file():
            if p.suffix.lower() == ".zip":
                _add_zip(p, sources, errors)
            else:
                sources.append(str(p))
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
    """Something pydicom.dcmread accepts: the path itself, or the zip member's bytes."""
    if is_zip_source(source):
        archive, member = split_zip_source(source)
        with zipfile.ZipFile(archive) as zf:
            return io.BytesIO(zf.read(member))
    return source


def display_name(source: str) -> str:
    """Short, user-facing name of a source (file name, or archive.zip!member)."""
    if is_zip_source(source):
        archive, member = split_zip_source(source)
        return f"{Path(archive).name}{ZIP_SEP}{member}"
    return source
