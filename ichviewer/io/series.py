"""Scan sources, group slices into series and sort each along its slice normal."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from os import PathLike
from threading import Event

import numpy as np

from ichviewer.core.geometry import gantry_tilt_deg, project_positions, slice_gaps, slice_normal
from ichviewer.errors import CancelledError, DicomReadError
from ichviewer.io import decode_pool
from ichviewer.io.headers import HeaderRecord, read_header
from ichviewer.io.model import FileError, ScanResult, SeriesInfo, SliceRef
from ichviewer.io.sources import display_name, find_sources

logger = logging.getLogger("ichviewer.io")

Progress = Callable[[int, int], None]


def _read_one(source: str) -> HeaderRecord | FileError | None:
    try:
        return read_header(source)
    except DicomReadError as exc:
        return FileError(exc.file, exc.reason)
    except Exception as exc:  # the file boundary: one odd file must never stop a study, and
        # the exception's text may quote header bytes (patient data), so only its kind is kept
        logger.debug("unexpected %s reading a header", type(exc).__name__)
        return FileError(
            display_name(source), f"header could not be interpreted ({type(exc).__name__})"
        )


def scan(
    paths: Iterable[str | PathLike[str]] | str | PathLike[str],
    *,
    progress: Progress | None = None,
    cancel: Event | None = None,
    workers: int = 1,
) -> ScanResult:
    """Read the headers of every file under ``paths`` and return the image series found.

    Files that are not usable CT slices are listed in ``errors`` (one line each); the rest
    load. Nothing is written anywhere. Header parsing is pure Python (GIL-bound): threads
    (``workers``) help only on slow network shares, but when the decoder processes are
    already running a large folder is read there in parallel (:func:`_in_processes`).
    """
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    sources, missing = find_sources(paths)
    errors = [FileError(display_name(p), why) for p, why in missing]
    records: list[HeaderRecord] = []
    n = len(sources)
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    chunks = _in_processes(sources) if pool is None else []
    if chunks:
        results: Iterable[HeaderRecord | FileError | None] = _collect(chunks)
    else:
        results = pool.map(_read_one, sources) if pool else map(_read_one, sources)
    try:
        for i, res in enumerate(results):
            if cancel is not None and cancel.is_set():
                raise CancelledError("scan cancelled")
            if isinstance(res, FileError):
                errors.append(res)
            elif res is not None:
                records.append(res)
            if progress is not None:
                progress(i + 1, n)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        for _, fut in chunks:
            fut.cancel()
    series = group_series(records, errors)
    for err in errors:
        logger.info("refused %s: %s", err.file, err.error)
    return ScanResult(series=series, errors=errors)


#: Files per header-reading task sent to the decoder processes, and 2x the fewest worth it.
SCAN_CHUNK = 32


def _read_chunk(sources: list[str]) -> list[HeaderRecord | FileError | None]:
    """Runs in a decoder process: the headers of a run of files."""
    return [_read_one(s) for s in sources]


def _in_processes(sources: list[str]) -> list[tuple[list[str], Future]]:
    """Header reading is pure Python (GIL-bound): when the decoder processes are running
    (the app after its first compressed series, a benchmark, a receiver), a large folder's
    headers are read there in parallel. Never starts them: for one folder that would cost
    more than it saves."""
    if len(sources) < 2 * SCAN_CHUNK or not decode_pool.running():
        return []
    chunks: list[tuple[list[str], Future]] = []
    try:
        for k in range(0, len(sources), SCAN_CHUNK):
            part = sources[k : k + SCAN_CHUNK]
            chunks.append((part, decode_pool.submit_call(_read_chunk, part)))
    except decode_pool.PoolBroken:
        for _, fut in chunks:
            fut.cancel()
        return []
    return chunks


def _collect(
    chunks: list[tuple[list[str], Future]],
) -> Iterator[HeaderRecord | FileError | None]:
    """The chunks' results in file order; a chunk whose worker died is read here."""
    for part, fut in chunks:
        try:
            yield from fut.result()
        except Exception as exc:  # a worker died (or the pool went down): read it here
            logger.debug(
                "header chunk failed in a worker (%s); reading it here", type(exc).__name__
            )
            yield from map(_read_one, part)


def _orientation_key(iop: tuple[float, ...] | None) -> tuple[float, ...] | None:
    return None if iop is None else tuple(round(v, 3) for v in iop)


def group_series(records: Sequence[HeaderRecord], errors: list[FileError]) -> list[SeriesInfo]:
    """Group slices by SeriesInstanceUID (split further by size and orientation, so a
    localizer sharing a UID with its axials becomes its own series) and sort each group."""
    groups: dict[tuple, tuple[dict, list[SliceRef]]] = {}
    seen_sop: set[str] = set()
    for rec in records:
        for sl in rec.slices:
            if sl.sop_instance_uid in seen_sop:
                errors.append(
                    FileError(
                        display_name(sl.source),
                        f"duplicate SOP Instance UID {sl.sop_instance_uid}; "
                        "the first copy was kept",
                    )
                )
                continue
            seen_sop.add(sl.sop_instance_uid)
            key = (rec.attrs["series_instance_uid"], sl.rows, sl.columns, _orientation_key(sl.iop))
            groups.setdefault(key, (rec.attrs, []))[1].append(sl)
    out = [_make_series(attrs, slices) for attrs, slices in groups.values()]
    out.sort(
        key=lambda s: (
            s.series_number if s.series_number is not None else 1 << 30,
            s.description,
            s.series_instance_uid,
        )
    )
    return out


def sort_slices(slices: Sequence[SliceRef]) -> tuple[list[SliceRef], str, np.ndarray | None]:
    """Order along the slice normal (inferior to superior for axials); InstanceNumber as a
    fallback; file order as a last resort. Returns (slices, method, normal)."""
    iop = next((s.iop for s in slices if s.iop is not None), None)
    if iop is not None and all(s.ipp is not None for s in slices):
        try:
            normal = slice_normal(iop)
        except ValueError:
            normal = None
        if normal is not None:
            pos = project_positions([s.ipp for s in slices], normal)
            # Break exact ties (duplicates at one position) by InstanceNumber.
            ordered = sorted(
                range(len(slices)),
                key=lambda i: (round(float(pos[i]), 4), slices[i].instance_number or 0),
            )
            return (
                [replace(slices[i], position_mm=float(pos[i])) for i in ordered],
                "position",
                normal,
            )
    if all(s.instance_number is not None for s in slices):
        ordered = sorted(slices, key=lambda s: s.instance_number or 0)
        return (
            [replace(s, position_mm=float(s.instance_number or 0)) for s in ordered],
            "instance_number",
            None,
        )
    return [replace(s, position_mm=float(i)) for i, s in enumerate(slices)], "file order", None


def _make_series(attrs: dict, slices: list[SliceRef]) -> SeriesInfo:
    ordered, method, _normal = sort_slices(slices)
    first = ordered[0]
    tilt = 0.0
    if first.iop is not None:
        try:
            tilt = gantry_tilt_deg(first.iop)
        except ValueError:
            tilt = 0.0
    gaps = slice_gaps([s.position_mm for s in ordered]).tolist() if method == "position" else []
    thick = first.slice_thickness
    thicknesses = {s.slice_thickness for s in ordered if s.slice_thickness}
    if len(thicknesses) > 1:
        thick = float(np.median([s.slice_thickness for s in ordered if s.slice_thickness]))
    if thick is None and gaps:
        thick = float(np.median(gaps))
    description = attrs["description"] or attrs["body_part"] or "(no description)"
    return SeriesInfo(
        series_instance_uid=attrs["series_instance_uid"],
        study_instance_uid=attrs["study_instance_uid"],
        modality=attrs["modality"],
        description=description,
        body_part=attrs["body_part"],
        protocol_name=attrs.get("protocol_name", ""),
        study_description=attrs.get("study_description", ""),
        contrast_agent=attrs.get("contrast_agent", ""),
        slices=ordered,
        rows=first.rows,
        columns=first.columns,
        pixel_spacing=first.pixel_spacing,
        slice_thickness=None if thick is None or not math.isfinite(thick) else thick,
        orientation=first.iop,
        tilt_deg=round(tilt, 2),
        gaps_mm=[round(g, 4) for g in gaps],
        sorted_by=method,
        study_date=attrs["study_date"],
        series_number=attrs["series_number"],
        patient_name=attrs["patient_name"],
        patient_id=attrs["patient_id"],
        patient_birth_date=attrs.get("patient_birth_date", ""),
        patient_age=attrs.get("patient_age", ""),
        patient_sex=attrs.get("patient_sex", ""),
    )
