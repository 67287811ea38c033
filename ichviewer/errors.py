"""Typed errors whose messages name the file, tag or field and the bad value."""

from __future__ import annotations

from pathlib import Path


class IchViewerError(Exception):
    """Base of every error ICH Viewer raises on purpose."""


class DicomReadError(IchViewerError):
    """A file could not be read as a usable CT image slice.

    Parameters
    ----------
    file : the file (or ``archive.zip!member``) that was refused
    reason : what is wrong, e.g. "(0028,0010) Rows is missing"
    """

    def __init__(self, file: str | Path, reason: str) -> None:
        self.file = str(file)
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


class SeriesError(IchViewerError):
    """A series as a whole is unusable (no slices, mixed sizes, nothing found)."""


class ModelLoadError(IchViewerError):
    """A checkpoint is not one ICH Viewer can trust and run."""


class ModelOutputError(IchViewerError):
    """A model gave outputs that are not probabilities (NaN or infinite): its weights are
    broken. Scoring stops; nothing it said is shown, cached or reported as negative."""


class CancelledError(IchViewerError):
    """Work was cancelled by the caller (a newer request, a closed study)."""
