"""Synthetic head-CT studies with labelled hemorrhages, written as DICOM + RSNA labels CSV.

A study is a phantom head (phantom.py) with 0-3 hemorrhage subtypes and the usual
look-alikes (lesions.py), scanned like a routine non-contrast head CT: 5 mm axial slices
from the skull base to the vertex, head rest, in-plane tilt, noise. Everything follows from
(seed, index), so the same arguments give the same pixels and UIDs on any machine, and
studies can be made in parallel. The DICOM files and the labels CSV are written by
training.synth_io.
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

from ichviewer.core.labels import LABELS, SUBTYPES
from ichviewer.io.pixels import AIR_HU
from training import ctsim
from training.anatomy import Head
from training.lesions import (
    BIT,
    MIN_AREA_MM2,
    paint_lesions,
    paint_lookalikes,
    sample_lesions,
    sample_lookalikes,
)
from training.masks import MASKS_DIR, write_study_masks
from training.phantom import AIR, Phantom, bone_glow, glow
from training.synth_io import LAYOUTS, image_ids, write_labels_csv, write_study
from training.vessels import paint_vessels, sample_vessels

log = logging.getLogger("training")

SLICE_MM = 5.0
#: Anatomy is drawn at most this many pixels across, then resampled to the output size.
WORK_MAX = 384
#: Sub-plane offsets averaged into each 5 mm slice (partial volume).
PARTIAL_VOLUME_MM = (-1.25, 1.25)
#: Glow around bone (training.phantom.glow): fraction and spread, drawn per study. A
#: simulated scan (training.ctsim) makes part of the glow itself, so it adds less.
GLOW_AMP = (0.06, 0.2)
GLOW_AMP_SCANNED = (0.02, 0.1)
GLOW_SIGMA_MM = (2.0, 3.2)
#: Share of studies reconstructed as thin slices (still one every 5 mm), and their
#: thicknesses: thin slices show vessels and noise that 5 mm slices average away.
THIN_FRACTION = 0.3
THIN_MM = (0.625, 1.0, 1.25, 2.5)
#: Share of studies with thick slices (and their range, mm): older or faster protocols.
THICK_FRACTION = 0.15
THICK_MM = (6.0, 10.0)
#: Share of studies whose head is pitched (flexed or extended, or a tilted gantry) against
#: the slice plane, and by how much: the vertex and skull base are then cut obliquely.
PITCH_FRACTION = 0.45
PITCH_DEG = (4.0, 22.0)


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


def _headrest(
    rng: np.random.Generator, head: Head, shift: tuple[float, float], size: int, ps: float
) -> tuple[np.ndarray, np.ndarray]:
    """The curved head holder under the occiput (scanner frame): mask and HU."""
    c = (np.arange(size, dtype=np.float32) + 0.5 - size / 2) * ps
    x, y = np.meshgrid(c, c)
    half = head.A + head.t_lat + head.scalp
    r = half + rng.uniform(6, 25)
    back = shift[1] + head.B + head.t_occ + head.scalp + rng.uniform(1, 10)
    cx, cy = shift[0] + rng.normal(0, 3), back - r
    up = rng.uniform(15, 70)
    hu = np.full((size, size), AIR, np.float32)
    shells = [(r, rng.uniform(1.2, 2.8), rng.uniform(150, 350))]
    if rng.random() < 0.4:
        shells.append((r + rng.uniform(4, 12), rng.uniform(0.8, 2), rng.uniform(100, 300)))
    foam = rng.random() < 0.3
    for k, (rad, th, val) in enumerate(shells):
        d = np.where(y > cy, np.abs(np.hypot(x - cx, y - cy) - rad), np.abs(np.abs(x - cx) - rad))
        d[y < cy - up] = 1e9
        if foam and k == 0:
            inside = (np.where(y > cy, np.hypot(x - cx, y - cy), np.abs(x - cx)) < rad) & (
                y > back - rng.uniform(8, 20)
            )
            hu[inside] = rng.uniform(-900, -700)
        hu[d < th / 2] = val
    return hu > AIR, hu


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
    thick slices; ``pitched`` flexes PITCH_FRACTION of the heads against the slice plane."""
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if n_slices is not None and n_slices < 2:
        raise ValueError(f"n_slices must be at least 2, got {n_slices}")
    r_anat, r_les, r_pose = (np.random.default_rng([seed, index, k]) for k in range(3))
    head = Head.sample(r_anat)
    kinds = _pick_kinds(r_les, lesion_types, p_negative)
    zs, step, fov, tilt, shift = _scan_geometry(r_pose, head, n_slices)
    # Slice thickness and head pitch: own streams, so every other draw stays as it was.
    r_thin = np.random.default_rng([seed, index, 7])
    thickness = SLICE_MM
    if thin and r_thin.random() < THIN_FRACTION:
        thickness = float(r_thin.choice(THIN_MM))
    elif thin and r_thin.random() < THICK_FRACTION / (1 - THIN_FRACTION):
        thickness = float(r_thin.uniform(*THICK_MM))
        if n_slices is None:  # thick slices lie further apart: fewer of them
            zs = zs[0] + thickness * np.arange(int((zs[-1] - zs[0]) / thickness) + 1)
            step = thickness
    r_pitch = np.random.default_rng([seed, index, 8])
    pitch = 0.0
    if pitched and r_pitch.random() < PITCH_FRACTION:
        pitch = math.radians(float(r_pitch.uniform(*PITCH_DEG)) * float(r_pitch.choice([-1, 1])))
    n, ps, work = len(zs), fov / size, min(size, WORK_MAX)
    phantom = Phantom(head, r_anat, work, fov, zs)
    look = sample_lookalikes(r_anat, head, phantom.parts)
    hr_mask, hr_hu = _headrest(r_pose, head, shift, size, ps)
    pad = -3024.0 if r_pose.random() < 0.3 else -1024.0  # 30% RSNA-style signed padding
    c = (np.arange(size) + 0.5 - size / 2) * ps
    outside = np.hypot(*np.meshgrid(c, c)) > fov / 2
    noise_hu = r_pose.uniform(2.5, 4.5)
    M = _head_to_image(tilt, shift, fov, work, size)
    r_glow = np.random.default_rng([seed, index, 4])  # own stream: other draws unchanged
    amp = r_glow.uniform(*(GLOW_AMP_SCANNED if scanner else GLOW_AMP))
    glow_args = (float(amp), float(r_glow.uniform(*GLOW_SIGMA_MM)))
    acq = ctsim.Acquisition.sample(np.random.default_rng([seed, index, 5])) if scanner else None
    vess = sample_vessels(np.random.default_rng([seed, index, 6]), head) if vessels else None
    sub_planes = PARTIAL_VOLUME_MM if thickness == SLICE_MM else (-thickness / 4, thickness / 4)
    if acq is not None and thickness < SLICE_MM:  # fewer photons in a thinner slice
        acq = replace(acq, dose=acq.dose * (thickness / SLICE_MM) ** 0.5)
    for attempt in range(8):
        lesions = sample_lesions(r_les, head, phantom.parts, kinds, tilt)
        clean = np.empty((n, size, size), np.float32)
        masks = np.empty((n, size, size), np.uint8)
        if pitch or thickness > SLICE_MM:
            # A pitched head or a thick slab: each slice is cut from a stack of planes.
            stack = _plane_stack(phantom, zs, thickness, pitch, (lesions, head, look, vess))
            slabs = (_oblique_slice(stack, z, thickness, pitch) for z in zs)
        else:
            slabs = (
                _sub_plane_slice(phantom, z, i, sub_planes, (lesions, head, look, vess))
                for i, z in enumerate(zs)
            )
        for i, (mean, bits, bone) in enumerate(slabs):
            _drop_bony(bits, mean, ps_work=fov / work)
            mean += glow(bone, fov / work, *glow_args)
            img = cv2.warpAffine(mean, M, (size, size), flags=cv2.INTER_LINEAR, borderValue=AIR)
            masks[i] = cv2.warpAffine(bits, M, (size, size), flags=cv2.INTER_NEAREST)
            clean[i] = np.where(hr_mask & (img < -500), hr_hu, img)
        labels = _labels(masks)
        if all(labels[:, LABELS.index(k)].any() for k in kinds):
            break
        log.debug("study %d: a subtype missed every slice, resampling (%d)", index, attempt)
    else:
        log.warning("study %d: could not place all of %s visibly", index, kinds)
    # The scan itself, once the lesions are placed (the costly part: done once).
    r_noise = np.random.default_rng([seed, index, 3])
    hu = np.empty((n, size, size), np.int16)
    for i, img in enumerate(clean):
        if ps < 0.6:
            img = cv2.GaussianBlur(img, (0, 0), 0.55)
        air = img < -990 if quiet_air else None
        if acq is not None:
            img = ctsim.acquire(img, ps, acq, r_noise)
        else:
            nz = r_noise.standard_normal((size, size), dtype=np.float32)
            nz = cv2.GaussianBlur(nz, (0, 0), max(0.75 / ps, 0.3))
            img = img + nz * (noise_hu / (nz.std() + 1e-6))
        if air is not None:
            img[air] = AIR
        img[outside] = pad
        hu[i] = np.clip(np.rint(img), pad, 3071).astype(np.int16)
    z_table = -round(float(r_pose.uniform(20, 80)), 1)
    cos, sin = math.cos(tilt), math.sin(tilt)
    les_dicts = []
    for les in lesions:
        d = les.to_dict()
        x, y, z = les.centre
        px, py = cos * x - sin * y + shift[0], sin * x + cos * y + shift[1]
        d["centre_mm"] = [round(float(v), 1) for v in (px, py, z + z_table)]
        d["centre_voxel"] = [
            round(float(v), 1)
            for v in ((z - zs[0]) / step, py / ps + size / 2 - 0.5, px / ps + size / 2 - 0.5)
        ]
        les_dicts.append(d)
    z_mm = np.round(zs + z_table, 2)
    uids = _uids(seed, index, n)
    thick = round(step, 3) if thickness == SLICE_MM else thickness
    return SyntheticStudy(hu, labels, masks, z_mm, ps, thick, les_dicts, uids)


def _sub_plane_slice(
    phantom: Phantom, z: float, index: int, offsets: tuple[float, ...], paint: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(HU, lesion bits, bone excess) of the slice at z as the mean of a few sub-planes: the
    slab's partial volume softens what the plane only grazes (vertex, skull base, lesion
    edges), as on a real scan. The sub-planes share the slice's random fields."""
    lesions, head, look, vess = paint
    work = phantom.n
    planes, bits = [], np.zeros((work, work), np.uint8)
    bone = np.zeros((work, work), np.float32)
    for dz in offsets:
        m = phantom.render(z + dz, index)
        bone += bone_glow(m)
        if vess is not None:  # under the lesions: a vessel inside a bleed is blood
            paint_vessels(m, vess)
        bits |= paint_lesions(m, lesions, head)
        paint_lookalikes(m, look)
        planes.append(m.hu)
    return sum(planes) / len(planes), bits, bone / len(planes)


@dataclass
class _Stack:
    """Planes every ``dp`` mm through the head (head frame): HU, lesion bits, bone glow."""

    z: np.ndarray
    dp: float
    hu: np.ndarray
    bits: np.ndarray
    bone: np.ndarray
    y_mm: np.ndarray  # head-frame y of each row


def _plane_stack(
    phantom: Phantom, zs: np.ndarray, thickness: float, pitch: float, paint: tuple
) -> _Stack:
    """Render the planes a pitched or thick series is cut from. One random-field index for
    all planes, so the texture runs continuously through the head (a slice that crosses
    many planes shows no seams)."""
    lesions, head, look, vess = paint
    work, ps = phantom.n, phantom.ps
    y_mm = ((np.arange(work) + 0.5 - work / 2) * ps).astype(np.float32)
    reach = thickness / 2 + abs(math.tan(pitch)) * float(np.abs(y_mm).max()) + 1.0
    dp = min(1.25, thickness / 2)
    z = np.arange(zs[0] - reach, zs[-1] + reach + dp, dp)
    hu = np.empty((len(z), work, work), np.float32)
    bits = np.empty((len(z), work, work), np.uint8)
    bone = np.empty((len(z), work, work), np.float32)
    for j, zj in enumerate(z):
        m = phantom.render(float(zj), 0)
        bone[j] = bone_glow(m)
        if vess is not None:
            paint_vessels(m, vess)
        bits[j] = paint_lesions(m, lesions, head)
        paint_lookalikes(m, look)
        hu[j] = m.hu
    return _Stack(z, dp, hu, bits, bone, y_mm)


def _oblique_slice(
    st: _Stack, zc: float, thickness: float, pitch: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(HU, lesion bits, bone excess) of the slab of ``thickness`` centred on zc whose plane
    rises by tan(pitch) mm per mm towards the back of the head: each row averages the
    planes its stretch of the slab overlaps (partial volume along z, the oblique cut
    of a flexed head: a tangentially cut calvarium, orbits beside the frontal lobes)."""
    zrow = zc + st.y_mm * math.tan(pitch)
    lo = np.maximum(st.z[:, None] - st.dp / 2, zrow[None, :] - thickness / 2)
    hi = np.minimum(st.z[:, None] + st.dp / 2, zrow[None, :] + thickness / 2)
    w = (np.clip(hi - lo, 0.0, None) / thickness).astype(np.float32)  # (planes, rows)
    js = np.flatnonzero(w.max(axis=1) > 0)
    wj = w[js]
    mean = np.einsum("pr,prc->rc", wj, st.hu[js])
    bone = np.einsum("pr,prc->rc", wj, st.bone[js])
    inside = wj >= 0.5 * st.dp / thickness  # planes whose centre lies in the slab
    bits = np.bitwise_or.reduce(np.where(inside[:, :, None], st.bits[js], 0), axis=0)
    return mean.astype(np.float32), bits.astype(np.uint8), bone.astype(np.float32)


def _scan_geometry(
    rng: np.random.Generator, head: Head, n_slices: int | None
) -> tuple[np.ndarray, float, float, float, tuple[float, float]]:
    """Slice heights (head frame), spacing, field of view, in-plane tilt and head offset."""
    z0 = -rng.uniform(4, 14)  # a little below the foramen magnum ...
    z1 = head.H + head.t_top + head.scalp - rng.uniform(0.5, 3.5)  # ... to the vertex
    if n_slices is None:
        n, step = int(np.clip(math.floor((z1 - z0) / SLICE_MM) + 1, 24, 40)), SLICE_MM
        z0 = min(z0, z1 - (n - 1) * step)
    else:
        n, step = n_slices, (z1 - z0) / (n_slices - 1)
    length = 2 * (head.B + (head.t_front + head.t_occ) / 2 + head.scalp)  # AP, skin to skin
    fov = float(np.clip(length / rng.uniform(0.74, 0.82), 215, 265))  # head fills ~3/4
    tilt = math.radians(float(np.clip(rng.normal(0, 4), -10, 10)))
    shift = (float(rng.normal(0, 5)), float(rng.uniform(-12, 4)))
    return z0 + step * np.arange(n), step, fov, tilt, shift


def _head_to_image(
    tilt: float, shift: tuple[float, float], fov: float, work: int, size: int
) -> np.ndarray:
    """2x3 affine from head-frame pixels (work x work) to output pixels: tilt + offset."""
    ps = fov / size
    cos, sin, sw = math.cos(tilt), math.sin(tilt), fov / work / ps
    o_w = (0.5 - work / 2) * fov / work
    tx = (cos * o_w - sin * o_w + shift[0]) / ps + size / 2 - 0.5
    ty = (sin * o_w + cos * o_w + shift[1]) / ps + size / 2 - 0.5
    return np.array([[cos * sw, -sin * sw, tx], [sin * sw, cos * sw, ty]])


def _drop_bony(bits: np.ndarray, hu: np.ndarray, ps_work: float) -> None:
    """Unmark lesion pixels that partial volume with the skull has made bone-bright, and
    then any subtype left with less than the minimum area on the slice."""
    bits[hu > 130] = 0
    for bit in BIT.values():
        n = np.count_nonzero(bits & bit)
        if 0 < n * ps_work**2 < MIN_AREA_MM2:
            bits &= ~np.uint8(bit)


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
