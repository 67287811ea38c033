"""DICOM input: find files, read headers, group and sort series, decode pixels to HU.

The usual path::

    result = scan(["/path/to/study"])          # headers only, per-file errors collected
    series = result.series[0]                  # sorted along the slice normal
    reader = SeriesReader(series)
    hu = reader.slice(0)                       # float32 HU, decoded on demand
    volume = reader.load_all()                 # (N, H, W), decoded in parallel
"""

from __future__ import annotations

from ichviewer.io.pixels import decode_hu, to_hu
from ichviewer.io.reader import SeriesReader
from ichviewer.io.series import FileError, ScanResult, SeriesInfo, SliceRef, scan

__all__ = [
    "FileError",
    "ScanResult",
    "SeriesInfo",
    "SeriesReader",
    "SliceRef",
    "decode_hu",
    "scan",
    "to_hu",
]
