"""The receive service: a storage SCP, a settle timer per study, and (with ``score``) one
worker that scores each study once it has gone quiet. What ``ichviewer receive`` runs and
what the window's File > Listen for studies wraps (callbacks come on worker threads; a Qt
wrapper re-emits them as signals).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ichviewer.errors import IchViewerError
from ichviewer.net.filing import Filed
from ichviewer.net.nodes import DEFAULT_AET
from ichviewer.net.store import SettleTimer, StorageSCP

logger = logging.getLogger("ichviewer.net")

StudyCallback = Callable[[Path], None]


class Receiver:
    """Receive studies into ``store_dir``; optionally score each one once it settles.

    Parameters
    ----------
    store_dir, port, aet, host, allow_aets : as :class:`~ichviewer.net.store.StorageSCP`
    score : score each settled study (writes <study folder>/ai-report.json)
    settle_s : seconds without a new instance after which a study counts as complete
    model, device : the checkpoint (None: site's, else bundled) and where it runs
    on_instance_stored(study_dir, filed), on_study_settled(study_dir),
    on_study_scored(study_dir, report_path), on_study_failed(study_dir, message):
        called from the SCP's, the timer's and the scoring worker's threads
    """

    def __init__(
        self,
        store_dir: str | Path,
        port: int,
        aet: str = DEFAULT_AET,
        *,
        host: str = "",
        allow_aets: Iterable[str] | None = None,
        score: bool = False,
        settle_s: float = 10.0,
        model: str | Path | None = None,
        device: str = "auto",
        use_cache: bool = True,
        on_instance_stored: Callable[[Path, Filed], None] | None = None,
        on_study_settled: StudyCallback | None = None,
        on_study_scored: Callable[[Path, Path], None] | None = None,
        on_study_failed: Callable[[Path, str], None] | None = None,
    ) -> None:
        self.scp = StorageSCP(
            store_dir, port, aet, host=host, allow_aets=allow_aets, on_stored=self._on_stored
        )
        self.score = bool(score)
        self.settle_s = float(settle_s)
        self.model, self.device, self.use_cache = model, device, use_cache
        self.on_instance_stored = on_instance_stored
        self.on_study_settled = on_study_settled
        self.on_study_scored = on_study_scored
        self.on_study_failed = on_study_failed
        self._timer: SettleTimer | None = None
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._engine: tuple[Any, Path, Any] | None = None  # predictor, model path, cache
        self._idle = threading.Event()
        self._idle.set()

    @property
    def port(self) -> int:
        return self.scp.port

    @property
    def store_dir(self) -> Path:
        return self.scp.store.root

    def start(self) -> None:
        """Start listening (and the timer and scoring worker). Raises PeerError when the
        port cannot be bound."""
        self._timer = SettleTimer(self.settle_s, self._on_settled)
        if self.score:
            self._worker = threading.Thread(
                target=self._score_loop, name="ichviewer-receive-score", daemon=True
            )
            self._worker.start()
        try:
            self.scp.start()
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop listening; studies still settling are not scored; a study being scored
        finishes first."""
        self.scp.stop()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once nothing is settling or being scored (for tests and scripts)."""
        import time

        end = None if timeout is None else time.monotonic() + timeout
        while True:
            busy = (self._timer is not None and self._timer.pending()) or not self._idle.is_set()
            if not busy and self._queue.empty():
                return True
            if end is not None and time.monotonic() > end:
                return False
            time.sleep(0.05)

    # -- internals ----------------------------------------------------------------------------
    def _on_stored(self, study_dir: Path, filed: Filed) -> None:
        if self._timer is not None:
            self._timer.touch(study_dir)
        if self.on_instance_stored is not None:
            self.on_instance_stored(study_dir, filed)

    def _on_settled(self, study_dir: Path) -> None:
        logger.info(
            "study folder %s settled (%.1f s without a new instance)", study_dir.name, self.settle_s
        )
        if self.on_study_settled is not None:
            self.on_study_settled(study_dir)
        if self.score:
            self._idle.clear()
            self._queue.put(study_dir)

    def _load_engine(self) -> tuple[Any, Path, Any]:
        if self._engine is None:
            from ichviewer.net.scoring import load_predictor

            predictor, path = load_predictor(self.model, self.device)
            cache = None
            if self.use_cache:
                from ichviewer.ai.cache import ResultCache

                cache = ResultCache(predictor.sha256)
            self._engine = (predictor, path, cache)
        return self._engine

    def _score_loop(self) -> None:
        from ichviewer.net.scoring import score_study

        while True:
            study_dir = self._queue.get()
            if study_dir is None:
                return
            try:
                predictor, path, cache = self._load_engine()
                report = score_study(study_dir, predictor, path, cache)
            except IchViewerError as exc:
                self._failed(study_dir, str(exc))
            except Exception as exc:  # noqa: BLE001 - thread boundary: one study's failure must not stop the service
                logger.exception("scoring study folder %s failed", study_dir.name)
                self._failed(study_dir, f"scoring failed: {type(exc).__name__}: {exc}")
            else:
                if self.on_study_scored is not None:
                    self.on_study_scored(study_dir, report)
            finally:
                if self._queue.empty():
                    self._idle.set()

    def _failed(self, study_dir: Path, message: str) -> None:
        logger.error("study folder %s not scored: %s", study_dir.name, message)
        if self.on_study_failed is not None:
            self.on_study_failed(study_dir, message)
