"""Training data: DICOM folders + label CSVs -> labelled slices split by patient.

Two layouts are read:

* RSNA 2019 stage_2: a flat folder of ``ID_<image>.dcm`` and ``stage_2_train.csv`` in the
  long ``ID_<image>_<label>,<0|1>`` format (the real file has duplicate rows; they are
  dropped with a warning, and a conflicting duplicate counts as positive).
* Synthetic (``python -m training synth``): series folders + ``labels.csv``, either long
  like RSNA or wide (one row per slice, a key column and the six label columns).

Slices are found with ichviewer.io's ``scan`` and decoded later with its ``decode_hu`` so
HU conversion (including the RSNA 12-bit intercept fix) is the viewer's. Headers are
indexed once per folder and cached as JSON. Splits go by patient, never by slice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ichviewer.core.labels import LABELS
from ichviewer.io import SliceRef, scan
from ichviewer.io.model import PixelLayout
from training.cache import file_stamp
from training.label_csv import (
    LabelTable,
    find_labels_csv,
    read_labels,
    read_rsna_long,
    read_wide,
    resolve_layout,
)

__all__ = [
    "LabelTable",
    "SliceEntry",
    "SplitData",
    "find_labels_csv",
    "index_headers",
    "label_entries",
    "load_labelled",
    "make_splits",
    "read_labels",
    "read_rsna_long",
    "read_wide",
    "resolve_layout",
    "split_patients",
]

logger = logging.getLogger("training")

INDEX_VERSION = 1
SPLITS = ("train", "val", "test")


# ----------------------------------------------------------------------------- header index


@dataclass(frozen=True)
class SliceEntry:
    """One slice found on disk: how to decode it and whom it belongs to."""

    ref: SliceRef
    patient: str  # a hash of PatientID (never the ID itself), StudyInstanceUID if absent
    study: str
    series: str

    @property
    def image_id(self) -> str:
        """The file name without extension (RSNA's ``ID_<image>``)."""
        return Path(self.ref.source.split("!")[-1]).stem


def _patient_key(patient_id: str, study_uid: str) -> str:
    raw = patient_id.strip() or f"study:{study_uid}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _fingerprint(root: Path) -> tuple[str, int]:
    """A hash of every file's relative path, size and mtime under root, and the file count."""
    h = hashlib.sha256(str(root.resolve()).encode())
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            h.update(f"{os.path.relpath(p, root)}\0{file_stamp(p)}\n".encode())
            n += 1
    return h.hexdigest()[:20], n


def _ref_to_json(ref: SliceRef) -> dict:
    return dataclasses.asdict(ref)


def _ref_from_json(d: dict) -> SliceRef:
    d = dict(d)
    if d.get("layout") is not None:
        d["layout"] = PixelLayout(**d["layout"])
    for k in ("ipp", "iop", "pixel_spacing"):
        if d.get(k) is not None:
            d[k] = tuple(d[k])
    return SliceRef(**d)


def index_headers(
    root: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    refresh: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[SliceEntry]:
    """Every decodable slice under ``root`` (headers only), cached as JSON in ``cache_dir``.

    The cache file is keyed by the folder's file list (path, size, mtime), so adding or
    changing a file re-indexes; ``refresh`` forces it.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    key, n_files = _fingerprint(root)
    cache_path = Path(cache_dir) / f"headers-{key}.json"
    if cache_path.is_file() and not refresh:
        try:
            doc = json.loads(cache_path.read_text())
            if doc.get("version") == INDEX_VERSION:
                return [
                    SliceEntry(_ref_from_json(e["ref"]), e["patient"], e["study"], e["series"])
                    for e in doc["slices"]
                ]
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("header index %s unreadable (%s); rebuilding", cache_path.name, exc)
    logger.info("indexing DICOM headers under %s (%d files)", root, n_files)
    result = scan(root, progress=progress)
    if result.errors:
        non_dicom = sum(
            1 for e in result.errors if e.file.endswith((".csv", ".json", ".txt", ".md", ".npz"))
        )
        if len(result.errors) > non_dicom:
            logger.warning(
                "%d files under %s were refused by the DICOM reader (first: %s: %s)",
                len(result.errors) - non_dicom,
                root,
                result.errors[0].file,
                result.errors[0].error,
            )
    entries: list[SliceEntry] = []
    for s in result.series:
        patient = _patient_key(s.patient_id, s.study_instance_uid)
        for ref in s.slices:
            entries.append(SliceEntry(ref, patient, s.study_instance_uid, s.series_instance_uid))
    doc = {
        "version": INDEX_VERSION,
        "root": str(root.resolve()),
        "slices": [
            {"ref": _ref_to_json(e.ref), "patient": e.patient, "study": e.study, "series": e.series}
            for e in entries
        ],
    }
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, cache_path)
    return entries


# ----------------------------------------------------------------------------- splits


def split_patients(
    patients: Iterable[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, str]:
    """Assign each patient to train / val / test (deterministic in ``seed``).

    ``fractions`` are normalised; a split with a positive fraction gets at least one patient
    when there are enough patients to go round.
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or fr.sum() <= 0:
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions!r}")
    fr = fr / fr.sum()
    uniq = sorted(set(patients))
    order = np.random.default_rng(seed).permutation(len(uniq))
    n = len(uniq)
    counts = np.floor(fr * n).astype(int)
    for i in np.argsort(-(fr * n - counts))[: n - counts.sum()]:
        counts[i] += 1  # largest remainders first
    for i in (1, 2, 0):  # make sure a wanted val / test split is not empty
        if fr[i] > 0 and counts[i] == 0 and n >= int((fr > 0).sum()):
            donor = int(np.argmax(counts))
            counts[donor] -= 1
            counts[i] += 1
    out: dict[str, str] = {}
    start = 0
    for name, c in zip(SPLITS, counts, strict=True):
        for j in order[start : start + c]:
            out[uniq[j]] = name
        start += c
    return out


@dataclass
class SplitData:
    """Labelled slices of one split."""

    entries: list[SliceEntry] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0, len(LABELS)), np.uint8))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def patients(self) -> set[str]:
        return {e.patient for e in self.entries}

    def summary(self) -> dict[str, int]:
        """Counts for logs and the model card (no identifiers)."""
        return {
            "slices": len(self.entries),
            "patients": len(self.patients),
            "studies": len({e.study for e in self.entries}),
            "positive_any": int(self.labels[:, -1].sum()) if len(self.labels) else 0,
        }


def label_entries(entries: Sequence[SliceEntry], table: LabelTable, root: Path) -> SplitData:
    """Attach labels; slices without a label row are skipped (and counted in the log)."""
    keep: list[SliceEntry] = []
    ys: list[np.ndarray] = []
    for e in entries:
        rel = os.path.relpath(e.ref.source, root) if "!" not in e.ref.source else e.ref.source
        sop = e.ref.sop_instance_uid
        y = table.lookup(e.image_id, sop, "ID_" + sop, rel, rel.replace(os.sep, "/"))
        if y is None:
            continue
        keep.append(e)
        ys.append(y)
    skipped = len(entries) - len(keep)
    if skipped:
        logger.warning(
            "%d of %d slices under %s have no label row and are skipped",
            skipped,
            len(entries),
            root,
        )
    labels = np.stack(ys) if ys else np.zeros((0, len(LABELS)), np.uint8)
    return SplitData(keep, labels)


def load_labelled(
    root: str | os.PathLike[str], cache_dir: str | os.PathLike[str], labels_csv: str | None = None
) -> SplitData:
    """Index ``root`` and attach the labels of its CSV (found automatically when not given)."""
    root, csv_path = resolve_layout(root, labels_csv)
    table = read_labels(csv_path)
    return label_entries(index_headers(root, cache_dir), table, root)


def make_splits(
    data: SplitData,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    test: SplitData | None = None,
) -> dict[str, SplitData]:
    """Split by patient. With ``test`` given (a separately generated / held-out set), all of
    ``data`` goes to train and val (the test fraction is ignored) and ``test`` is the test split."""
    fr = list(fractions)
    if test is not None:
        fr[2] = 0.0
    assign = split_patients([e.patient for e in data.entries], fr, seed)
    out: dict[str, SplitData] = {}
    for name in SPLITS:
        idx = [i for i, e in enumerate(data.entries) if assign[e.patient] == name]
        out[name] = SplitData([data.entries[i] for i in idx], data.labels[idx])
    if test is not None:
        clash = out["train"].patients & test.patients
        if clash:
            raise ValueError(
                f"{len(clash)} patients of the test data also appear in the training data"
            )
        out["test"] = test
    return out
