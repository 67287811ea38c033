"""Cutting a series of slices out of the painted phantom.

Each output slice is a slab, not a plane: a routine 5 mm slice is the mean of a few
sub-planes (partial volume); a pitched or rolled head or a thick slab is cut obliquely from a stack of
planes through the whole head. The slab, in the head frame, then gets the bone glow, is
turned and shifted onto the output grid and lies on the head holder (:class:`Placement`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from training.lesions import BIT, MIN_AREA_MM2, paint_lesions
from training.lookalikes import paint_lookalikes
from training.phantom import AIR, Phantom, SliceMaps, bone_glow, glow
from training.scanner import SLICE_MM
from training.vessels import paint_vessels

#: Sub-plane offsets averaged into each 5 mm slice (partial volume).
PARTIAL_VOLUME_MM = (-1.25, 1.25)

#: A slab's pixel is marked with a hemorrhage subtype when blood of that subtype fills at
#: least this share of its thickness. Blood that a thick or oblique slab only grazes is
#: averaged with brain into a few HU of contrast that no reader would call (nor label).
LABEL_FILL = 0.5

#: (HU, lesion bits, bone excess) of one slab in the head frame.
Slab = tuple[np.ndarray, np.ndarray, np.ndarray]


#: Signed distances are capped here (mm); a plane with no cavity at all reads -SDF_CAP.
SDF_CAP = 15.0


def cavity_sdf(m: SliceMaps) -> tuple[np.ndarray, np.ndarray]:
    """(signed distance, value across) of every pixel of a painted slice: the distance (mm)
    to the inner table, > 0 inside the cranial cavity and < 0 outside it, and the HU of the
    nearest pixel on the other side of the table."""
    ps, cav = m.grid.ps, m.cavity.astype(np.uint8)
    flat = m.hu.ravel()
    sdf = np.zeros(m.hu.shape, np.float32)
    across = m.hu.copy()
    for side, sign in ((cav, 1.0), (1 - cav, -1.0)):
        if not side.any() or side.all():
            sdf[side.astype(bool)] = sign * SDF_CAP
            continue
        d, lab = cv2.distanceTransformWithLabels(
            side, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
        )
        # labels number the zero pixels (the other side) in raster order
        values = flat[np.flatnonzero(side.ravel() == 0)]
        inside = side.astype(bool)
        sdf[inside] = sign * np.minimum(d[inside] * ps - 0.5 * ps, SDF_CAP)
        across[inside] = values[lab[inside] - 1]
    return sdf, across


def zmix(hu: np.ndarray, sdf: np.ndarray, across: np.ndarray) -> np.ndarray:
    """Partial volume along z at the inner table, for a stack of planes (P, n, n) a plane
    spacing apart, with each plane's :func:`cavity_sdf`.

    Each plane stands for the stretch of z half-way to its neighbours (the end planes as far
    beyond). The signed distance is taken as linear in z; where the inner table crosses a
    plane's stretch, the part beyond the crossing takes the neighbour's value (at the ends,
    the value across the table). An obliquely cut calvarium then fades into the brain over
    millimetres, through the few tens of HU above brain that real scans show there, instead
    of stepping from brain to a quarter of bone from one plane to the next."""
    out = hu.copy()
    n = len(hu)
    if n < 2:
        return out
    inside = sdf > 0
    mid = np.empty_like(sdf)
    for step in (-1, 1):  # the half towards the plane below, then above
        end = 0 if step < 0 else n - 1
        # the mean signed distance with the neighbour (slices, not an indexed copy)
        lo, hi = (1, n) if step < 0 else (0, n - 1)
        np.add(sdf[lo:hi], sdf[lo + step : hi + step], out=mid[lo:hi])
        mid[lo:hi] *= 0.5
        # beyond the end plane: extrapolated (not from a plane with no table nearby)
        inner = sdf[end - step]
        beyond = np.where(np.abs(inner) < SDF_CAP, 2 * sdf[end] - inner, sdf[end])
        mid[end] = 0.5 * (sdf[end] + beyond)
        # Only pixels whose stretch the table crosses change (a thin shell round the
        # cavity): the rest is left alone rather than given a zero share.
        at = np.nonzero(inside != (mid > 0))
        s_at, m_at = sdf[at], mid[at]
        far = np.abs(m_at) / (np.abs(s_at) + np.abs(m_at) + 1e-6)  # share beyond the crossing
        ends = at[0] == end
        other = hu[(np.where(ends, at[0], at[0] + step), *at[1:])]
        other[ends] = across[end][tuple(a[ends] for a in at[1:])]
        out[at] += 0.5 * far.astype(np.float32) * (other - hu[at])
    return out


def _painted_plane(phantom: Phantom, z: float, index: int, paint: tuple) -> tuple[np.ndarray, ...]:
    """One plane at height z with everything painted: (HU, lesion bits, bone excess, signed
    distance to the inner table, HU across it)."""
    lesions, head, look, vess = paint
    m = phantom.render(z, index)
    bone = bone_glow(m)
    if vess is not None:  # under the lesions: a vessel inside a bleed is blood
        paint_vessels(m, vess)
    bits = paint_lesions(m, lesions, head)
    paint_lookalikes(m, look)
    return (m.hu, bits, bone, *cavity_sdf(m))


def sub_plane_slice(
    phantom: Phantom, z: float, index: int, offsets: tuple[float, ...], paint: tuple
) -> Slab:
    """(HU, lesion bits, bone excess) of the slice at z as the mean of a few sub-planes: the
    slab's partial volume softens what the plane only grazes (vertex, skull base, lesion
    edges), as on a real scan. The sub-planes share the slice's random fields."""
    planes = [_painted_plane(phantom, z + dz, index, paint) for dz in offsets]
    hu, bits, bone, sdf, across = (np.stack(a) for a in zip(*planes, strict=True))
    fill = {bit: ((bits & bit) != 0).mean(axis=0) for bit in BIT.values()}
    return zmix(hu, sdf, across).mean(axis=0), filled_bits(fill), bone.mean(axis=0)


def filled_bits(fill: dict[int, np.ndarray]) -> np.ndarray:
    """Lesion bits of a slab from each subtype bit's share of its thickness (LABEL_FILL)."""
    out = np.zeros(next(iter(fill.values())).shape, np.uint8)
    for bit, share in fill.items():
        out[share >= LABEL_FILL - 1e-6] |= np.uint8(bit)
    return out


@dataclass
class PlaneStack:
    """Planes every ``dp`` mm through the head (head frame): HU, lesion bits, bone glow."""

    z: np.ndarray
    dp: float
    hu: np.ndarray
    bits: np.ndarray
    bone: np.ndarray
    y_mm: np.ndarray  # head-frame y of each row


def plane_stack(
    phantom: Phantom, zs: np.ndarray, thickness: float, tilt: tuple[float, float], paint: tuple
) -> PlaneStack:
    """Render the planes a tilted or thick series is cut from (``tilt`` = (pitch, roll),
    radians). One random-field index for all planes, so the texture runs continuously
    through the head (a slice that crosses many planes shows no seams)."""
    work, ps = phantom.n, phantom.ps
    y_mm = ((np.arange(work) + 0.5 - work / 2) * ps).astype(np.float32)
    rise = sum(abs(math.tan(a)) for a in tilt) * float(np.abs(y_mm).max())
    reach = thickness / 2 + rise + 1.0
    dp = min(1.25, thickness / 2)
    z = np.arange(zs[0] - reach, zs[-1] + reach + dp, dp)
    hu = np.empty((len(z), work, work), np.float32)
    bits = np.empty((len(z), work, work), np.uint8)
    bone = np.empty((len(z), work, work), np.float32)
    sdf = np.empty((len(z), work, work), np.float32)
    across = np.empty((len(z), work, work), np.float32)
    for j, zj in enumerate(z):
        hu[j], bits[j], bone[j], sdf[j], across[j] = _painted_plane(phantom, float(zj), 0, paint)
    return PlaneStack(z, dp, zmix(hu, sdf, across), bits, bone, y_mm)


def oblique_slice(
    st: PlaneStack, zc: float, thickness: float, pitch: float, roll: float = 0.0
) -> Slab:
    """(HU, lesion bits, bone excess) of the slab of ``thickness`` centred on zc whose plane
    rises by tan(pitch) mm per mm towards the back of the head and by tan(roll) mm per mm
    towards its left (columns): each pixel averages the planes its stretch of the slab
    overlaps (partial volume along z; the oblique cut of a flexed head: a tangentially cut
    calvarium, orbits beside the frontal lobes; of a rolled head: one temporal fossa and
    petrous bone cut lower than the other). A pixel is marked with a subtype where that
    blood fills LABEL_FILL of its stretch."""
    x = st.y_mm  # the grid is square: columns lie at the same head-frame mm as rows
    zpix = zc + st.y_mm[:, None] * math.tan(pitch) + x[None, :] * math.tan(roll)
    lo, hi = zpix - thickness / 2, zpix + thickness / 2
    first = np.floor((lo - (st.z[0] - st.dp / 2)) / st.dp).astype(np.intp)
    mean = np.zeros(zpix.shape, np.float32)
    bone = np.zeros(zpix.shape, np.float32)
    fill = {bit: np.zeros(zpix.shape, np.float32) for bit in BIT.values()}
    last = len(st.z) - 1
    for k in range(int(math.ceil(thickness / st.dp)) + 1):
        j = np.clip(first + k, 0, last)
        zj = st.z[j]
        w = np.clip(np.minimum(zj + st.dp / 2, hi) - np.maximum(zj - st.dp / 2, lo), 0.0, None)
        w = np.where(first + k == j, w / thickness, 0.0).astype(np.float32)
        mean += w * np.take_along_axis(st.hu, j[None], axis=0)[0]
        bone += w * np.take_along_axis(st.bone, j[None], axis=0)[0]
        plane_bits = np.take_along_axis(st.bits, j[None], axis=0)[0]
        for bit, share in fill.items():
            share += w * ((plane_bits & bit) != 0)
    return mean, filled_bits(fill), bone


def drop_bony(bits: np.ndarray, hu: np.ndarray, ps_work: float) -> None:
    """Unmark lesion pixels that partial volume with the skull has made bone-bright, and
    then any subtype left with less than the minimum area on the slice."""
    bits[hu > 130] = 0
    for bit in BIT.values():
        n = np.count_nonzero(bits & bit)
        if 0 < n * ps_work**2 < MIN_AREA_MM2:
            bits &= ~np.uint8(bit)


@dataclass
class Placement:
    """How a head-frame slab becomes an output slice: the affine onto the output grid
    (training.scanner.head_to_image), its size, the head-frame pixel size, the bone glow
    (amplitude, sigma mm) and the head holder (mask, HU)."""

    affine: np.ndarray
    size: int
    ps_work: float
    glow: tuple[float, float]
    headrest: tuple[np.ndarray, np.ndarray]

    def image(self, mean: np.ndarray, bits: np.ndarray, bone: np.ndarray) -> tuple:
        """(HU, lesion bits) of the slab on the output grid, before the scan."""
        drop_bony(bits, mean, ps_work=self.ps_work)
        mean += glow(bone, self.ps_work, *self.glow)
        shape = (self.size, self.size)
        img = cv2.warpAffine(mean, self.affine, shape, flags=cv2.INTER_LINEAR, borderValue=AIR)
        mask = cv2.warpAffine(bits, self.affine, shape, flags=cv2.INTER_NEAREST)
        hr_mask, hr_hu = self.headrest
        return np.where(hr_mask & (img < -500), hr_hu, img), mask


def render_series(
    phantom: Phantom,
    zs: np.ndarray,
    thickness: float,
    tilt: tuple[float, float],
    paint: tuple,
    place: Placement,
) -> tuple[np.ndarray, np.ndarray]:
    """Clean HU (float32) and lesion bitmasks (uint8) of every slice, (N, size, size) each.
    ``tilt`` is the head's (pitch, roll) against the slice plane (radians); ``paint`` is
    (lesions, head, look-alikes, vessels or None)."""
    n, size = len(zs), place.size
    clean = np.empty((n, size, size), np.float32)
    masks = np.empty((n, size, size), np.uint8)
    if any(tilt) or thickness > SLICE_MM:
        # A tilted head or a thick slab: each slice is cut from a stack of planes.
        stack = plane_stack(phantom, zs, thickness, tilt, paint)
        slabs = (oblique_slice(stack, z, thickness, *tilt) for z in zs)
    else:
        offsets = PARTIAL_VOLUME_MM if thickness == SLICE_MM else (-thickness / 4, thickness / 4)
        slabs = (sub_plane_slice(phantom, z, i, offsets, paint) for i, z in enumerate(zs))
    for i, slab in enumerate(slabs):
        clean[i], masks[i] = place.image(*slab)
    return clean, masks
