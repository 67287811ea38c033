"""The scope check of a loaded series (ichviewer.core.scope) from its headers and a few of
its slices: the one place the window, triage and the worklist ask "is this a head CT?"."""

from __future__ import annotations

import threading

import numpy as np

from ichviewer.core.scope import Scope, assess_scope
from ichviewer.io.model import SeriesInfo
from ichviewer.io.reader import SeriesReader

#: Slices looked at for the image evidence, spread evenly over the series.
SCOPE_SLICES = 5


def series_scope(
    series: SeriesInfo,
    reader: SeriesReader | None = None,
    *,
    loaded_only: bool = False,
    cancel: threading.Event | None = None,
) -> Scope:
    """Scope of ``series``; with ``reader``, a few of its slices (decoded through it, so
    they are not read twice) add the image evidence; ``loaded_only``: only slices it has
    decoded already are looked at (the user stopped the loading); ``cancel`` stops decoding
    more of them (the answer is then for a request nobody waits for)."""
    slices: list[np.ndarray] = []
    spacing = series.pixel_spacing[1] if series.pixel_spacing else None
    if reader is not None and spacing:
        pool = np.flatnonzero(reader.loaded) if loaded_only else np.arange(series.n_slices)
        n = len(pool)
        picks = sorted({int(pool[round(k)]) for k in np.linspace(0, n - 1, min(SCOPE_SLICES, n))})
        for i in picks:  # the median width decides: a neck or vertex slice does not
            if cancel is not None and cancel.is_set():
                break
            hu = reader.slice(i)
            if not reader.failed[i]:
                slices.append(hu)
    return assess_scope(
        modality=series.modality,
        body_part=series.body_part,
        descriptions=(series.description, series.study_description, series.protocol_name),
        contrast_agent=series.contrast_agent,
        slices=slices,
        pixel_spacing_mm=spacing,
    )
