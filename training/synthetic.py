"""Synthetic head-CT studies with labelled hemorrhages, written as DICOM + RSNA labels CSV.

A study is a phantom head (phantom.py) with 0-3 hemorrhage subtypes and the usual
look-alikes (lesions.py), scanned like a routine non-contrast head CT: 5 mm axial slices
from the skull base to the vertex, head rest, in-plane tilt, noise. Everything follows from
(seed, index), so the same arguments give the same pixels and UIDs on any machine, and
studies can be made in parallel. Where the slices lie and how they are scanned is in
training.scanner, how each slice is cut from the phantom in training.slicing; the DICOM
files and the labels CSV are written by training.synth_io.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ichviewer.core.heap import keep_freed_memory
from ichviewer.core.labels import LABELS, SUBTYPES
from ichviewer.io.pixels import AIR_HU
from training import ctsim
from training.anatomy import Head
from training.lesions import Lesion, sample_lesions
from training.lookalikes import sample_lookalikes
from training.masks import MASKS_DIR, write_study_masks
from training.phantom import Phantom
from training.scanner import SLICE_MM, head_to_image, headrest, scan_geometry, scan_series
from training.slicing import Placement, render_series
from training.synth_io import LAYOUTS, image_ids, write_labels_csv, write_study
from training.vessels import sample_vessels

log = logging.getLogger("training")

#: Anatomy is drawn at most this many pixels across, then resampled to the output size.
WORK_MAX = 384
#: Glow around bone (training.phantom.glow): fraction and spread, drawn per study. A
#: simulated scan (training.ctsim) makes part of the glow itself, so it adds less.
GLOW_AMP = (0.06, 0.2)
GLOW_AMP_SCANNED = (0.02, 0.18)
GLOW_SIGMA_MM = (2.0, 4.0)
#: Share of studies reconstructed as thin slices (still one every 5 mm), and their
#: thicknesses: thin slices show vessels and noise that 5 mm slices average away.
THIN_FRACTION = 0.3
THIN_MM = (0.625, 1.0, 1.25, 2.5)
#: Share of studies with thick slices (and their range, mm): older or faster protocols.
THICK_FRACTION = 0.15
THICK_MM = (6.0, 10.0)
#: A head pitched at least this much (degrees) is a tilted-gantry sequential scan as often as
#: a flexed head, and those are most often thick: TILTED_THICK_FRACTION of them are thick.
GANTRY_TILT_DEG = 10.0
TILTED_THICK_FRACTION = 0.5
#: Share of studies whose head is pitched (flexed or extended, or a tilted gantry) against
#: the slice plane, and by how much: the vertex and skull base are then cut obliquely.
PITCH_FRACTION = 0.45
PITCH_DEG = (4.0, 22.0)
#: Share of studies whose head is rolled towards one shoulder, and by how much: one temporal
#: fossa, petrous bone and orbit are then cut lower than the other, and the calvarium of the
#: higher side tangentially (real heads rarely lie perfectly straight in the holder).
ROLL_FRACTION = 0.4
ROLL_DEG = (2.0, 10.0)


@dataclass
class SyntheticStudy:
    """One synthetic head CT: HU volume, per-slice labels, lesion masks and identifiers."""

    hu: np.ndarray  # (N, H, W) int16 HU, slice 0 = most inferior (skull base), last = vertex
    labels: np.ndarray  # (N, 6) uint8 in LABELS order; 'any' = OR of subtypes
    masks: np.ndarray  # (N, H, W) uint8 bitmask of lesion pixels, bit i = LABELS[i] (i < 5)
    z_mm: np.ndarray  # (N,) slice positions in mm
    pixel_spacing: float
    slice_thickness: float
    lesions: list[dict]  # what was placed: type, centre, size (json-serialisable)
    uids: dict  # patient_id, study_uid, series_uid, sop_uids (list); 'rsna': the same as ID_xxx

    def hu_as_read(self) -> np.ndarray:
        """float32 HU as the viewer's loader gives them for the written files (outside-FOV
        padding reads as air)."""
        return np.maximum(self.hu, AIR_HU).astype(np.float32)


def _hex(seed: int, index: int, what: str, n: int) -> str:
    return hashlib.sha256(f"ichviewer-synthetic:{seed}:{index}:{what}".encode()).hexdigest()[:n]


def _study_date(seed: int, index: int) -> str:
    day = dt.date(2019, 1, 1) + dt.timedelta(days=(seed * 7919 + index * 31) % 1500)
    return day.strftime("%Y%m%d")


def _uids(seed: int, index: int, n: int) -> dict:
    from pydicom.uid import generate_uid

    def uid(what: str) -> str:
        return generate_uid(entropy_srcs=["ichviewer-synthetic", str(seed), str(index), what])

    return {
        "patient_id": f"PHANTOM-{seed}-{index:04d}",
        "patient_name": f"PHANTOM^{index:04d}",
        "study_date": _study_date(seed, index),
        "study_uid": uid("study"),
        "series_uid": uid("series"),
        "frame_uid": uid("frame"),
        "sop_uids": [uid(f"sop{i}") for i in range(n)],
        "rsna": {
            "patient_id": "ID_" + _hex(seed, index, "patient", 8),
            "study_uid": "ID_" + _hex(seed, index, "study", 10),
            "series_uid": "ID_" + _hex(seed, index, "series", 10),
            "sop_uids": ["ID_" + _hex(seed, index, f"sop{i}", 10) for i in range(n)],
        },
    }


def _pick_kinds(
    rng: np.random.Generator, lesion_types: Sequence[str] | None, p_negative: float
) -> list[str]:
    if lesion_types is not None:
        bad = [k for k in lesion_types if k not in SUBTYPES]
        if bad:
            raise ValueError(f"unknown hemorrhage subtype(s) {bad}; expected some of {SUBTYPES}")
        return list(dict.fromkeys(lesion_types))
    if rng.random() < p_negative:
        return []
    k = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
    return [str(s) for s in rng.choice(SUBTYPES, k, replace=False)]


def generate_study(
    seed: int,
    index: int = 0,
    *,
    size: int = 512,
    n_slices: int | None = None,
    lesion_types: Sequence[str] | None = None,
    p_negative: float = 0.5,
) -> SyntheticStudy:
    """Make study ``index`` of the set defined by ``seed`` (pixels + labels, nothing written).

    ``lesion_types=None`` draws at random: negative with probability ``p_negative``, else 1-3
    subtypes; a list forces those subtypes (an empty list forces a negative study).
    """
    return _generate(
        seed, index, size=size, n_slices=n_slices, lesion_types=lesion_types, p_negative=p_negative
    )


def _generate(
    seed: int,
    index: int,
    *,
    size: int,
    n_slices: int | None,
    lesion_types: Sequence[str] | None,
    p_negative: float,
    quiet_air: bool = False,
    scanner: bool = True,
    vessels: bool = True,
    thin: bool = True,
    pitched: bool = True,
) -> SyntheticStudy:
    """generate_study; ``quiet_air`` leaves the air around the head noise-free (exactly
    -1000 HU) so RLE can compress the committed demo (noise in air is incompressible).
    ``scanner`` reconstructs every slice from a simulated acquisition (training.ctsim:
    beam hardening, quantum noise, FBP); without it, smoothed Gaussian noise is added.
    ``vessels`` draws arteries, cortical veins and dural sinuses (training.vessels);
    ``thin`` reconstructs THIN_FRACTION of the studies as thin and THICK_FRACTION as
    thick slices (TILTED_THICK_FRACTION of those pitched GANTRY_TILT_DEG or more);
    ``pitched`` flexes PITCH_FRACTION of the heads against the slice plane and rolls
    ROLL_FRACTION of them towards a shoulder.

    Every kind of draw has its own random stream ([seed, index, k]): anatomy (0), lesions
    (1), pose and scan geometry (2), noise (3), glow (4), acquisition (5), vessels (6),
    slice thickness (7), pitch (8), roll (9); adding a draw to one leaves the others as they were."""
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if n_slices is not None and n_slices < 2:
        raise ValueError(f"n_slices must be at least 2, got {n_slices}")
    r_anat, r_les, r_pose = (np.random.default_rng([seed, index, k]) for k in range(3))
    head = Head.sample(r_anat)
    kinds = _pick_kinds(r_les, lesion_types, p_negative)
    zs, step, fov, tilt, shift = scan_geometry(r_pose, head, n_slices)
    zs, step, thickness, pitch, roll = protocol(seed, index, zs, step, n_slices, thin, pitched)
    n, ps, work = len(zs), fov / size, min(size, WORK_MAX)
    phantom = Phantom(head, r_anat, work, fov, zs)
    look = sample_lookalikes(r_anat, head, phantom.parts)
    hr = headrest(r_pose, head, shift, size, ps)
    pad = -3024.0 if r_pose.random() < 0.3 else -1024.0  # 30% RSNA-style signed padding
    c = (np.arange(size) + 0.5 - size / 2) * ps
    outside = np.hypot(*np.meshgrid(c, c)) > fov / 2
    noise_hu = r_pose.uniform(2.5, 4.5)
    r_glow = np.random.default_rng([seed, index, 4])
    amp = r_glow.uniform(*(GLOW_AMP_SCANNED if scanner else GLOW_AMP))
    glow_args = (float(amp), float(r_glow.uniform(*GLOW_SIGMA_MM)))
    place = Placement(head_to_image(tilt, shift, fov, work, size), size, fov / work, glow_args, hr)
    acq = ctsim.Acquisition.sample(np.random.default_rng([seed, index, 5])) if scanner else None
    r_vess = np.random.default_rng([seed, index, 6])
    vess = sample_vessels(r_vess, head, phantom.tent, phantom.parts["pf"][0]) if vessels else None
    if acq is not None and thickness < SLICE_MM:  # fewer photons in a thinner slice
        acq = replace(acq, dose=acq.dose * (thickness / SLICE_MM) ** 0.5)
    for attempt in range(8):
        lesions = sample_lesions(r_les, head, phantom.parts, kinds, tilt)
        paint = (lesions, head, look, vess)
        clean, masks = render_series(phantom, zs, thickness, (pitch, roll), paint, place)
        labels = _labels(masks)
        if all(labels[:, LABELS.index(k)].any() for k in kinds):
            break
        log.debug("study %d: a subtype missed every slice, resampling (%d)", index, attempt)
    else:
        log.warning("study %d: could not place all of %s visibly", index, kinds)
    # The scan itself, once the lesions are placed (the costly part: done once).
    r_noise = np.random.default_rng([seed, index, 3])
    hu = scan_series(
        clean, ps, acq, r_noise, noise_hu=noise_hu, pad=pad, outside=outside, quiet_air=quiet_air
    )
    z_table = -round(float(r_pose.uniform(20, 80)), 1)
    where = (tilt, shift, z_table, zs, step, ps, size)
    les_dicts = [_lesion_dict(les, *where) for les in lesions]
    z_mm = np.round(zs + z_table, 2)
    uids = _uids(seed, index, n)
    thick = round(step, 3) if thickness == SLICE_MM else thickness
    return SyntheticStudy(hu, labels, masks, z_mm, ps, thick, les_dicts, uids)


def protocol(
    seed: int,
    index: int,
    zs: np.ndarray,
    step: float,
    n_slices: int | None,
    thin: bool,
    pitched: bool,
) -> tuple[np.ndarray, float, float, float, float]:
    """(slice heights, spacing, thickness, pitch, roll) of study ``index``: the head's pose
    against the slice plane and the slices' thickness (a head pitched GANTRY_TILT_DEG or
    more is thick in TILTED_THICK_FRACTION of the studies, else in THICK_FRACTION)."""
    pitch = _tilt(np.random.default_rng([seed, index, 8]), pitched, PITCH_FRACTION, PITCH_DEG)
    roll = _tilt(np.random.default_rng([seed, index, 9]), pitched, ROLL_FRACTION, ROLL_DEG)
    gantry = abs(pitch) >= math.radians(GANTRY_TILT_DEG)
    share = TILTED_THICK_FRACTION if gantry else THICK_FRACTION
    r_thin = np.random.default_rng([seed, index, 7])
    return (*_thickness(r_thin, zs, step, n_slices, thin, share), pitch, roll)


def _thickness(
    rng: np.random.Generator,
    zs: np.ndarray,
    step: float,
    n_slices: int | None,
    thin: bool,
    thick_share: float = THICK_FRACTION,
) -> tuple[np.ndarray, float, float]:
    """(slice heights, spacing, thickness): 5 mm, or (``thin``) THIN_FRACTION of the studies
    thin and ``thick_share`` thick, whose slices then lie further apart (unless ``n_slices``
    is fixed)."""
    thickness = SLICE_MM
    if thin and rng.random() < THIN_FRACTION:
        thickness = float(rng.choice(THIN_MM))
    elif thin and rng.random() < thick_share / (1 - THIN_FRACTION):
        thickness = float(rng.uniform(*THICK_MM))
        if n_slices is None:  # thick slices lie further apart: fewer of them
            zs = zs[0] + thickness * np.arange(int((zs[-1] - zs[0]) / thickness) + 1)
            step = thickness
    return zs, step, thickness


def _tilt(
    rng: np.random.Generator, tilted: bool, fraction: float, degrees: tuple[float, float]
) -> float:
    """Head pitch or roll against the slice plane (radians): 0, or (``tilted``) ``degrees``
    either way for ``fraction`` of the studies."""
    if tilted and rng.random() < fraction:
        return math.radians(float(rng.uniform(*degrees)) * float(rng.choice([-1, 1])))
    return 0.0


def _lesion_dict(
    les: Lesion,
    tilt: float,
    shift: tuple[float, float],
    z_table: float,
    zs: np.ndarray,
    step: float,
    ps: float,
    size: int,
) -> dict:
    """Lesion.to_dict plus where the lesion's centre lies in the written series:
    ``centre_mm`` (patient, scanner frame) and ``centre_voxel`` (slice, row, col)."""
    cos, sin = math.cos(tilt), math.sin(tilt)
    d = les.to_dict()
    x, y, z = les.centre
    px, py = cos * x - sin * y + shift[0], sin * x + cos * y + shift[1]
    d["centre_mm"] = [round(float(v), 1) for v in (px, py, z + z_table)]
    d["centre_voxel"] = [
        round(float(v), 1)
        for v in ((z - zs[0]) / step, py / ps + size / 2 - 0.5, px / ps + size / 2 - 0.5)
    ]
    return d


def _labels(masks: np.ndarray) -> np.ndarray:
    """(N, 6) slice labels from the bitmask: subtype present on the slice; 'any' = OR."""
    n = masks.shape[0]
    present = np.bitwise_or.reduce(masks.reshape(n, -1), axis=1)
    out = np.zeros((n, len(LABELS)), np.uint8)
    for i in range(len(SUBTYPES)):
        out[:, i] = (present >> i) & 1
    out[:, -1] = out[:, :-1].max(axis=1)
    return out


# ----------------------------------------------------------------------------- writing a set


def _synth_one(job: tuple[int, int, int, str, str, str]) -> list[tuple[str, list[int]]]:
    seed, index, size, layout, dest, masks_dir = job
    cv2.setNumThreads(1)
    keep_freed_memory()
    study = generate_study(seed, index, size=size)
    write_study(study, Path(dest), layout=layout)
    uids = study.uids["rsna"]["sop_uids"] if layout == "rsna" else study.uids["sop_uids"]
    write_study_masks(Path(masks_dir), f"{index:04d}", uids, study.masks)
    return list(zip(image_ids(study, layout), study.labels.tolist(), strict=True))


def synth(
    out: Path, studies: int, seed: int, *, layout: str = "series", size: int = 512, workers: int = 1
) -> Path:
    """Write ``studies`` studies + the labels CSV under ``out``; return the CSV path.

    ``series``: out/<index>/0001.dcm ... + out/labels.csv. ``rsna``: out/stage_2_train/ID_*.dcm
    + out/stage_2_train.csv. Either way out/masks/<index>.npz holds each study's lesion
    bitmasks by SOPInstanceUID (for ``fit --mask-loss``). Studies are independent, so
    ``workers`` processes give the same files as one.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if studies < 1:
        raise ValueError(f"studies must be at least 1, got {studies}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (
            seed,
            i,
            size,
            layout,
            str(out / "stage_2_train" if layout == "rsna" else out / f"{i:04d}"),
            str(out / MASKS_DIR),
        )
        for i in range(studies)
    ]
    rows: list[tuple[str, list[int]]] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for k, r in enumerate(ex.map(_synth_one, jobs)):
                rows.extend(r)
                log.info("study %d/%d written", k + 1, studies)
    else:
        for k, job in enumerate(jobs):
            rows.extend(_synth_one(job))
            log.info("study %d/%d written", k + 1, studies)
    csv_path = out / ("stage_2_train.csv" if layout == "rsna" else "labels.csv")
    write_labels_csv(rows, csv_path)
    return csv_path
