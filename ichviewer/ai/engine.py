"""The AI engine, the one way to use the model: which checkpoint (:func:`resolve_model_path`),
loading it with what the screens say about it (:func:`load_model`, shared per process), and
scoring a series: the network slice by slice (through the result cache), the checkpoint's
series context over it, the flags at its thresholds, the scope check and the study-level
call.

Triage, the worklist and the self-test call :func:`score_series`; the window, which scores
incrementally (the slice on screen first), feeds a :class:`SeriesScoring` as results arrive
and shows what it says. Both go through the same :class:`SeriesScoring`.

torch is imported only inside the functions that need it: importing this module is cheap.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichviewer.ai.results import SliceResult
from ichviewer.core.labels import LABELS
from ichviewer.core.rules import outward_order
from ichviewer.core.scope import Scope
from ichviewer.core.triage import (
    FlaggedSlice,
    StudyDecision,
    flagged_mask,
    flagged_slices,
    study_decision,
)
from ichviewer.io import SeriesInfo, SeriesReader
from ichviewer.io.model import FileError
from ichviewer.io.scope import series_scope

if TYPE_CHECKING:
    from ichviewer.ai.cache import ResultCache
    from ichviewer.ai.jobs import ScoringJob
    from ichviewer.ai.predictor import Predictor
    from ichviewer.site_config import SiteConfig

# -- which model, loaded once per process ---------------------------------------------------

#: Predictors kept per process (the bundled one and a user's): a second window, or the same
#: file opened again, does not pay the 1-5 s load.
MAX_PREDICTORS = 3
_predictors: collections.OrderedDict[tuple, Predictor] = collections.OrderedDict()
_predictors_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """What the screens and reports say about the model that made a probability."""

    name: str
    sha256: str
    path: str
    synthetic: bool
    thresholds: tuple[float, ...]
    card: dict[str, Any] = field(default_factory=dict, compare=False)
    arch: str = ""
    runtime: dict[str, Any] = field(default_factory=dict, compare=False)
    threshold_source: str = "checkpoint"
    #: distances (mm) of the series-context stage; () when the model scores slices alone
    context_mm: tuple[float, ...] = ()
    #: the study-level threshold on a study's largest P(any)
    study_threshold: float = 0.5

    @classmethod
    def from_predictor(cls, p: Predictor) -> ModelInfo:
        ck = p.checkpoint
        return cls(
            name=p.name,
            sha256=p.sha256,
            path=str(ck.path or ""),
            synthetic=ck.synthetic,
            thresholds=tuple(float(t) for t in p.thresholds),
            card=dict(ck.card),
            arch=ck.arch,
            runtime=p.describe(),
            threshold_source=ck.threshold_source,
            context_mm=() if ck.context is None else tuple(ck.context.distances_mm),
            study_threshold=p.study_threshold,
        )

    @property
    def short_sha(self) -> str:
        return self.sha256[:8]

    def footer(self) -> str:
        """e.g. 'ichviewer-densenet (sha 1a2b3c4d) — synthetic-phantom model, not for
        diagnostic use'."""
        kind = "synthetic-phantom model, " if self.synthetic else ""
        return f"{self.name} (sha {self.short_sha}) — {kind}not for diagnostic use"

    def as_dict(self) -> dict[str, Any]:
        """The ``model`` block of an export."""
        card = self.card
        return {
            "name": self.name,
            "sha256": self.sha256,
            "path": self.path,
            "arch": self.arch,
            "version": card.get("version"),
            "date": card.get("date"),
            "training_data": card.get("training_data"),
            "intended_use": card.get("intended_use"),
            "synthetic": self.synthetic,
        }


@dataclass(frozen=True)
class LoadedModel:
    predictor: Predictor
    info: ModelInfo


def resolve_model_path(
    cli: str | Path | None = None,
    *,
    site: SiteConfig | None = None,
    user: str | Path | None = None,
) -> Path:
    """The checkpoint to use: ``--model`` (or a file the user just chose) > the site
    config's > the user's choice of a previous session > the bundled model. Paths are
    returned as given even when missing (loading reports that)."""
    from ichviewer.site_config import effective_model_path, load_site_config

    site = load_site_config() if site is None else site
    if user and not cli and site.model_path is None:
        return Path(user)
    return effective_model_path(cli or None, site)  # --model > site > bundled


def load_predictor(
    path: str | Path,
    site: SiteConfig | None = None,
    *,
    device: str = "auto",
    batch_size: int = 8,
) -> Predictor:
    """The Predictor of the checkpoint at ``path`` under the site policy ``site`` (read
    from the site file when not given) on ``device``, shared in this process while the file
    is unchanged (a replaced file is loaded afresh). Raises ModelLoadError for a bad file."""
    from ichviewer.ai.predictor import Predictor
    from ichviewer.ai.site import load_site_checkpoint
    from ichviewer.errors import ModelLoadError

    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelLoadError(
            f"{path}: cannot read the checkpoint ({exc.strerror or exc})"
        ) from None
    from ichviewer.site_config import load_site_config

    site = load_site_config() if site is None else site
    policy = (str(site.model_path), tuple(sorted(site.thresholds.items())))  # what it changes
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, device, batch_size, policy)
    with _predictors_lock:  # one lock for all loads: two windows load the same file once
        p = _predictors.get(key)
        if p is None:
            p = Predictor(load_site_checkpoint(path, site), device=device, batch_size=batch_size)
            _predictors[key] = p
            while len(_predictors) > MAX_PREDICTORS:
                _predictors.popitem(last=False)
        _predictors.move_to_end(key)
        return p


def predictor_for(
    model: str | Path | None = None, *, device: str = "auto", batch_size: int = 8
) -> tuple[Predictor, Path]:
    """The headless callers' model (``ichviewer triage``, the self-test, ``receive``):
    ``model`` (``--model``) > the site config's > the bundled one, loaded once per process
    by :func:`load_predictor`; returns it with its path. IchViewerError when there is none."""
    from ichviewer.errors import IchViewerError
    from ichviewer.site_config import load_site_config

    site = load_site_config()  # its problems are logged as warnings, once, by the reader
    path = resolve_model_path(model, site=site)
    if not path.exists():
        hint = (
            "" if model else " (the bundled model is missing from this install; pass --model CKPT)"
        )
        raise IchViewerError(f"no model: {path} does not exist{hint}")
    return load_predictor(path, site, device=device, batch_size=batch_size), path


def load_model(path: str | Path, site: SiteConfig | None = None) -> LoadedModel:
    """:func:`load_predictor` and its :class:`ModelInfo`."""
    p = load_predictor(path, site)
    return LoadedModel(p, ModelInfo.from_predictor(p))


# -- a series' scores ------------------------------------------------------------------------


class SeriesScoring:
    """The scores of one series as they arrive, and everything said from them.

    ``raw``: the network's, slice by slice (NaN rows: not scored). :attr:`shown`: the
    checkpoint's series context over them, what every screen and report shows and flags,
    recomputed once per change. Out of scope, nothing is flagged. ``predictor`` may be None
    (no model yet): nothing is scored or flagged.
    """

    def __init__(
        self, predictor: Predictor | None, series: SeriesInfo, scope: Scope | None = None
    ) -> None:
        self.predictor = predictor
        self.series = series
        self.scope = scope if scope is not None else Scope(True)
        self.raw = np.full((series.n_slices, len(LABELS)), np.nan, dtype=np.float32)
        self.n_from_cache = 0
        self._shown: np.ndarray | None = None

    def add(self, index: int, result: SliceResult) -> None:
        """Slice ``index`` was scored (or read from the cache)."""
        self.raw[index] = np.asarray(result.probabilities, dtype=np.float32)
        self.n_from_cache += int(result.from_cache)
        self._shown = None

    def set_scope(self, scope: Scope) -> None:
        self.scope = scope
        self._shown = None

    @property
    def shown(self) -> np.ndarray:
        """(N, 6) float32: the series context over :attr:`raw` (NaN rows: not scored)."""
        if self._shown is None:
            if self.predictor is None or not len(self.raw):
                self._shown = self.raw.copy()
            else:
                self._shown = self.predictor.in_series(self.raw, self.series.positions_mm)
        return self._shown

    @property
    def thresholds(self) -> np.ndarray:
        """The operating thresholds every flag uses; +inf (nothing fires) without a model or
        for a series out of the model's scope."""
        if self.predictor is None or not self.scope.in_scope:
            return np.full(len(LABELS), np.inf, dtype=np.float32)
        return np.asarray(self.predictor.thresholds, dtype=np.float32)

    @property
    def flagged(self) -> np.ndarray:
        """(N, 6) bool: label fired on slice; all False out of scope."""
        return flagged_mask(self.shown, self.thresholds)

    def flagged_slices(self, order: str = "probability") -> list[FlaggedSlice]:
        return flagged_slices(self.shown, self.thresholds, order=order)

    @property
    def decision(self) -> StudyDecision | None:
        """The study-level call (None without a model)."""
        if self.predictor is None:
            return None
        return study_decision(self.shown, self.predictor.study_threshold, self.scope.in_scope)

    @property
    def n_scored(self) -> int:
        return int((~np.isnan(self.raw).any(axis=1)).sum())

    def shown_at(self, index: int) -> np.ndarray | None:
        """float32[6] shown for slice ``index``, or None when not scored (yet)."""
        return _row(self.shown, index)

    def raw_at(self, index: int) -> np.ndarray | None:
        """The network's float32[6] for slice ``index`` alone, or None when not scored."""
        return _row(self.raw, index)

    def context_pending(self, index: int) -> bool:
        """True while a slice within the series-context reach of ``index`` is unscored (its
        shown probability may still move)."""
        ctx = None if self.predictor is None else self.predictor.context
        if ctx is None or not 0 <= index < len(self.raw):
            return False
        pos = np.asarray(self.series.positions_mm, dtype=np.float64)
        near = np.abs(pos - pos[index]) <= max(ctx.distances_mm) + 1e-6
        return bool(np.isnan(self.raw[near]).any())

    def todo(self, focus: int, allowed: np.ndarray | None = None) -> list[int]:
        """Unscored slices (only where ``allowed``), from ``focus`` outwards."""
        missing = np.isnan(self.raw).any(axis=1)
        if allowed is not None:
            missing &= np.asarray(allowed, dtype=bool)
        return [i for i in outward_order(focus, len(missing)) if missing[i]]

    def job(
        self, source: Any, order: Sequence[int], cache: ResultCache | None = None
    ) -> ScoringJob:
        """A ScoringJob for the slices ``order`` of this series from ``source`` (a reader)."""
        from ichviewer.ai.jobs import ScoringJob

        assert self.predictor is not None
        uids = [ref.sop_instance_uid for ref in self.series.slices]
        return ScoringJob(self.predictor, source, uids, order=list(order), cache=cache)


def _row(a: np.ndarray, index: int) -> np.ndarray | None:
    if not 0 <= index < len(a):
        return None
    p = a[index]
    return None if np.isnan(p).any() else p.copy()


@dataclass
class SeriesScore:
    """What the engine says about one series."""

    series: SeriesInfo
    results: dict[int, SliceResult]
    raw: np.ndarray  # (N, 6) the network's, slice by slice; NaN rows: not scored
    shown: np.ndarray  # (N, 6) what every screen and report shows (series context applied)
    flagged: np.ndarray  # (N, 6) bool; all False out of scope
    decision: StudyDecision
    scope: Scope
    failed: dict[int, str] = field(default_factory=dict)  # slice index -> why not scored
    read_errors: list[FileError] = field(default_factory=list)

    def flagged_labels(self, i: int) -> list[str]:
        return [lb for lb, f in zip(LABELS, self.flagged[i], strict=True) if f]


def assess(
    predictor: Predictor,
    series: SeriesInfo,
    results: dict[int, SliceResult],
    scope: Scope,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, StudyDecision]:
    """(raw, shown, flagged, decision) of the slices scored so far."""
    s = SeriesScoring(predictor, series, scope)
    for i, res in results.items():
        s.add(i, res)
    return s.raw, s.shown, s.flagged, s.decision


def score_series(
    predictor: Predictor,
    series: SeriesInfo,
    *,
    cache: ResultCache | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> SeriesScore:
    """Score every slice of ``series`` and assess it. Raises SeriesError for a series that
    cannot be read at all, ModelOutputError for a broken model; a slice that cannot be
    read is listed in ``failed`` and the rest is scored."""
    reader = SeriesReader(series)
    scoring = SeriesScoring(predictor, series)
    job = scoring.job(reader, range(series.n_slices), cache)

    def progress(done: int, total: int) -> None:
        if cancel is not None and cancel.is_set():
            job.cancel()
        if on_progress is not None:
            on_progress(done, total)

    results = job.run(on_result=scoring.add, on_progress=progress)
    scoring.set_scope(series_scope(series, reader))
    return SeriesScore(
        series=series,
        results=results,
        raw=scoring.raw,
        shown=scoring.shown,
        flagged=scoring.flagged,
        decision=scoring.decision,
        scope=scoring.scope,
        failed=dict(job.failed),
        read_errors=list(reader.errors),
    )
