"""The scanner around the phantom head: where the slices lie (skull base to vertex, 5 mm
apart), the field of view, the head's in-plane tilt and offset, the head holder under the
occiput, and the acquisition that turns each clean slice into a scanned one (training.ctsim,
or smoothed Gaussian noise without it). training.synthetic decides the draws; this module
holds the geometry and the per-slice arithmetic.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from training import ctsim
from training.anatomy import Head
from training.phantom import AIR

#: Slice spacing of a routine head CT (and the thickness of most of its slices), mm.
SLICE_MM = 5.0


def scan_geometry(
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


def head_to_image(
    tilt: float, shift: tuple[float, float], fov: float, work: int, size: int
) -> np.ndarray:
    """2x3 affine from head-frame pixels (work x work) to output pixels: tilt + offset."""
    ps = fov / size
    cos, sin, sw = math.cos(tilt), math.sin(tilt), fov / work / ps
    o_w = (0.5 - work / 2) * fov / work
    tx = (cos * o_w - sin * o_w + shift[0]) / ps + size / 2 - 0.5
    ty = (sin * o_w + cos * o_w + shift[1]) / ps + size / 2 - 0.5
    return np.array([[cos * sw, -sin * sw, tx], [sin * sw, cos * sw, ty]])


def headrest(
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


def scan_series(
    clean: np.ndarray,
    ps: float,
    acq: ctsim.Acquisition | None,
    rng: np.random.Generator,
    *,
    noise_hu: float,
    pad: float,
    outside: np.ndarray,
    quiet_air: bool,
) -> np.ndarray:
    """int16 HU of each clean slice as scanned: a simulated acquisition (``acq``) or, without
    one, Gaussian noise of ``noise_hu`` smoothed to the pixel size; ``pad`` outside the scan
    circle. ``quiet_air`` puts the air around the head back to exactly -1000 HU."""
    n, size = clean.shape[0], clean.shape[1]
    hu = np.empty((n, size, size), np.int16)
    for i, img in enumerate(clean):
        if ps < 0.6:
            img = cv2.GaussianBlur(img, (0, 0), 0.55)
        air = img < -990 if quiet_air else None
        if acq is not None:
            img = ctsim.acquire(img, ps, acq, rng)
        else:
            nz = rng.standard_normal((size, size), dtype=np.float32)
            nz = cv2.GaussianBlur(nz, (0, 0), max(0.75 / ps, 0.3))
            img = img + nz * (noise_hu / (nz.std() + 1e-6))
        if air is not None:
            img[air] = AIR
        img[outside] = pad
        hu[i] = np.clip(np.rint(img), pad, 3071).astype(np.int16)
    return hu
