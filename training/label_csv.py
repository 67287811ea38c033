"""Label CSVs: the RSNA 2019 long format (duplicates and all) and one-row-per-slice tables.

* RSNA stage_2: ``ID,Label`` rows ``ID_<image>_<label>,<0|1>``. The real file has duplicate
  rows; they are dropped with a warning, and a conflicting duplicate counts as positive.
* Wide: a key column (SOP Instance UID, image id or file) and the six label columns.

``python -m training synth`` writes the long format too (``ID_<SOPInstanceUID>``).
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichviewer.core.labels import LABELS

logger = logging.getLogger("training")

RSNA_CSV_NAMES = ("stage_2_train.csv", "stage_1_train.csv")
SYNTH_CSV_NAMES = ("labels.csv",)
#: Columns that may name the slice in a wide label CSV, tried in this order.
KEY_COLUMNS = ("SOPInstanceUID", "sop_instance_uid", "ID", "image_id", "image", "file", "path")


@dataclass
class LabelTable:
    """Labels by slice key (RSNA image id, SOP Instance UID or file path), LABELS order."""

    labels: dict[str, np.ndarray]
    duplicates: int = 0
    conflicts: int = 0
    incomplete: int = 0

    def lookup(self, *keys: str) -> np.ndarray | None:
        for k in keys:
            if k in self.labels:
                return self.labels[k]
        return None


def read_rsna_long(path: str | os.PathLike[str]) -> LabelTable:
    """Parse the RSNA long format ``ID_<image>_<label>,<value>``.

    Exact duplicate rows are dropped; a duplicate with a different value counts as positive
    (a missed bleed is the costlier error) and is reported. Images lacking some of the six
    labels are dropped and counted in ``incomplete``.
    """
    values: dict[str, dict[str, int]] = {}
    dup = conflict = 0
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["ID", "Label"]:
            raise ValueError(f"{path}: expected an 'ID,Label' header, got {header!r}")
        for lineno, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                continue
            ident, _, label = row[0].strip().rpartition("_")
            if label not in LABELS or not ident:
                raise ValueError(f"{path}:{lineno}: unknown label in ID {row[0]!r}")
            try:
                v = int(float(row[1]))
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}:{lineno}: label value must be 0 or 1, got {row[1:]!r}"
                ) from None
            if v not in (0, 1):
                raise ValueError(f"{path}:{lineno}: label value must be 0 or 1, got {v}")
            per = values.setdefault(ident, {})
            if label in per:
                dup += 1
                if per[label] != v:
                    conflict += 1
                    v = 1
            per[label] = v
    table = LabelTable({}, dup, conflict)
    for ident, per in values.items():
        if len(per) != len(LABELS):
            table.incomplete += 1
            continue
        table.labels[ident] = np.array([per[n] for n in LABELS], dtype=np.uint8)
    if dup:
        logger.warning(
            "%s: %d duplicate rows dropped (%d with conflicting values, kept as positive)",
            Path(path).name,
            dup,
            conflict,
        )
    if table.incomplete:
        logger.warning(
            "%s: %d images lack some of the six labels and are skipped",
            Path(path).name,
            table.incomplete,
        )
    return table


def read_wide(path: str | os.PathLike[str]) -> LabelTable:
    """Parse one row per slice: a key column (see KEY_COLUMNS) and the six label columns."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        keys = [c for c in KEY_COLUMNS if c in cols]
        missing = [n for n in LABELS if n not in cols]
        if not keys or missing:
            raise ValueError(
                f"{path}: need a key column ({', '.join(KEY_COLUMNS)}) and the label "
                f"columns; missing {', '.join(missing) or 'the key column'}"
            )
        table = LabelTable({})
        for row in reader:
            y = np.array([int(float(row[n])) for n in LABELS], dtype=np.uint8)
            for k in keys:
                key = row[k].strip()
                if not key:
                    continue
                if key in table.labels:
                    table.duplicates += 1
                    if not np.array_equal(table.labels[key], y):
                        table.conflicts += 1
                        y = np.maximum(table.labels[key], y)
                table.labels[key] = y
    if table.duplicates:
        logger.warning("%s: %d duplicate rows dropped", Path(path).name, table.duplicates)
    return table


def read_labels(path: str | os.PathLike[str]) -> LabelTable:
    """Read a label CSV in either format (decided by its header)."""
    with open(path, newline="") as fh:
        header = fh.readline()
    if header.strip().replace(" ", "").startswith("ID,Label"):
        return read_rsna_long(path)
    return read_wide(path)


def find_labels_csv(root: Path) -> Path | None:
    """The label CSV of a data folder: RSNA stage_2/stage_1 first, then labels.csv; looked
    for in the folder and, for an RSNA image folder, in its parent."""
    for folder in (root, root.parent):
        for name in (*RSNA_CSV_NAMES, *SYNTH_CSV_NAMES):
            p = folder / name
            if p.is_file():
                return p
    return None


def resolve_layout(
    root: str | os.PathLike[str], labels_csv: str | os.PathLike[str] | None = None
) -> tuple[Path, Path]:
    """(image folder, label CSV) of a data folder.

    RSNA's Kaggle layout keeps ``stage_2_train.csv`` next to the ``stage_2_train/`` image
    folder (and an unlabelled ``stage_2_test/`` beside it): given that parent folder, only
    ``stage_2_train/`` is indexed.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    for stem in ("stage_2_train", "stage_1_train"):
        if (root / stem).is_dir() and (root / f"{stem}.csv").is_file():
            return root / stem, Path(labels_csv) if labels_csv else root / f"{stem}.csv"
    csv_path = Path(labels_csv) if labels_csv else find_labels_csv(root)
    if csv_path is None:
        raise FileNotFoundError(
            f"no label CSV in {root} (looked for "
            f"{', '.join((*RSNA_CSV_NAMES, *SYNTH_CSV_NAMES))}); pass --labels"
        )
    return root, csv_path
