"""Is a series what the model is meant for: a non-contrast CT of the head?

The hemorrhage model has only learnt heads. A chest, spine or abdomen series scored by it
gives numbers that mean nothing, so such a series is reported as out of scope, with the
reason, and flags nothing. A contrast-enhanced head CT is scored, with a warning: enhancing
vessels, dura and choroid plexus look like blood to a non-contrast model.

Two kinds of evidence, both cheap: what the headers say (Modality, BodyPartExamined, study
and series description, protocol name, ContrastBolusAgent) and what the images show (how
wide the body is: an adult head is about 14-21 cm across with its scalp, a chest or abdomen
30 cm or more). Header words that name another region decide only when the images do not
look like a head either, since descriptions are free text ("HEAD/NECK", "C-SPINE + HEAD").
Pure numpy; no patient data in any message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: Words (lower case, whole-word or prefix match) that say "head".
HEAD_WORDS = (
    "head", "brain", "skull", "cranial", "cranium", "cerebr", "neuro", "ich", "stroke",
    "kopf", "schaedel", "schädel", "cerveau", "crane", "crâne", "cabeza", "cranio",
)  # fmt: skip
#: Words that name a region the model has not learnt.
OTHER_WORDS = (
    "chest", "thorax", "thoracic", "lung", "pulmo", "abdomen", "abdo", "abd", "pelvis",
    "pelvic", "liver", "renal", "kidney", "spine", "lumbar", "cardiac", "heart", "coronar",
    "knee", "hip", "shoulder", "extremit", "ankle", "wrist", "body", "torso", "whole",
)  # fmt: skip
#: Words that say contrast was given.
CONTRAST_PATTERNS = (
    r"\bcontrast\b", r"\bc\+", r"\+c\b", r"\bcta\b", r"\bangio", r"\bw/\s*con",
    r"\bwith\s+con", r"\bpost[\s-]*con", r"\benhanced\b", r"\bkm\b", r"\bperfusion\b",
)  # fmt: skip
#: Phrases that say no contrast was given (removed before CONTRAST_PATTERNS are matched).
NO_CONTRAST = r"\b(?:without|w/o|wo|no|non|sans|ohne)[\s/-]*(?:iv\s+)?(?:contrast|con|km)\b"
#: Body wider than this (mm, median over the slices looked at): not a head.
MAX_HEAD_WIDTH_MM = 250.0
#: Air (HU) and soft tissue threshold for the body outline.
BODY_HU = -500.0


@dataclass(frozen=True)
class Scope:
    """Whether a series is in the model's scope, and why not (or what to watch for)."""

    in_scope: bool
    reason: str = ""  # why not, or a warning when in scope (e.g. contrast); "" otherwise
    contrast: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"in_scope": self.in_scope, "scope_reason": self.reason}


#: Thinner than this (mm) does not count as body: head holders, blankets, cables.
THIN_MM = 4.0


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary erosion by a (2r+1)^2 box, with an integral image (numpy only)."""
    k = 2 * r + 1
    ii = np.pad(mask.astype(np.int32), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    s = ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]
    out = np.zeros(mask.shape, bool)
    out[r : r + s.shape[0], r : r + s.shape[1]] = s == k * k
    return out


def body_width_mm(hu: np.ndarray, pixel_spacing_mm: float) -> float | None:
    """Largest extent (mm, left-right or front-back) of the body on a slice, ignoring
    anything thinner than :data:`THIN_MM`; None when there is no body."""
    body = np.nan_to_num(np.asarray(hu, np.float32), nan=-1000.0) > BODY_HU
    r = max(1, int(round(THIN_MM / 2 / pixel_spacing_mm)))
    core = _erode(body, r)
    if core.sum() * pixel_spacing_mm**2 < 400.0:  # under 4 cm^2: no body on this slice
        return None
    cols, rows = np.flatnonzero(core.any(axis=0)), np.flatnonzero(core.any(axis=1))
    extent = max(cols[-1] - cols[0], rows[-1] - rows[0]) + 1 + 2 * r
    return float(extent * pixel_spacing_mm)


def _words(texts: Iterable[str]) -> str:
    return " ".join(t for t in texts if t).lower()


def _has(text: str, words: Sequence[str]) -> str | None:
    for w in words:
        if re.search(r"(?<![a-z])" + re.escape(w), text):
            return w
    return None


def assess_scope(
    *,
    modality: str = "CT",
    body_part: str = "",
    descriptions: Sequence[str] = (),
    contrast_agent: str = "",
    slices: Sequence[np.ndarray] = (),
    pixel_spacing_mm: float | None = None,
) -> Scope:
    """Decide the scope of one series.

    ``descriptions``: series and study description, protocol name (free text);
    ``slices``: a few HU slices spread over the series (image evidence); without them, or
    without ``pixel_spacing_mm``, only the headers count.
    """
    mod = (modality or "").strip().upper()
    if mod and mod != "CT":
        return Scope(False, f"modality is {mod}, not CT: the model reads CT only")
    widths = []
    if pixel_spacing_mm and pixel_spacing_mm > 0:
        widths = [w for w in (body_width_mm(s, pixel_spacing_mm) for s in slices) if w]
    width = float(np.median(widths)) if widths else None
    part = (body_part or "").strip().lower()
    text = _words([part, *descriptions])
    head_word = _has(text, HEAD_WORDS)
    other_word = _has(text, OTHER_WORDS)
    too_wide = width is not None and width > MAX_HEAD_WIDTH_MM
    if too_wide:
        what = (
            f"the body is {width / 10:.0f} cm wide on these images (a head is at most about 21 cm)"
        )
        named = f"; the headers say '{other_word}'" if other_word and not head_word else ""
        return Scope(False, f"not a head CT: {what}{named}")
    # Without image evidence the headers decide; BodyPartExamined (a defined term) first.
    part_other = bool(_has(part, OTHER_WORDS)) and not _has(part, HEAD_WORDS)
    if width is None and (part_other or (other_word and not head_word)):
        what = (
            f"BodyPartExamined is {body_part.strip().upper()}"
            if part_other
            else f"the headers name '{other_word}', not the head"
        )
        return Scope(False, f"not a head CT: {what}")
    plain = re.sub(NO_CONTRAST, " ", text)  # "without contrast" says the opposite
    contrast = bool((contrast_agent or "").strip()) or any(
        re.search(p, plain) for p in CONTRAST_PATTERNS
    )
    if contrast:
        source = (
            "ContrastBolusAgent is set"
            if (contrast_agent or "").strip()
            else "the description says so"
        )
        return Scope(
            True,
            f"contrast-enhanced CT ({source}): the model is meant for non-contrast head CT; "
            "enhancing vessels, dura and choroid plexus can look like blood",
            contrast=True,
        )
    return Scope(True, "")
