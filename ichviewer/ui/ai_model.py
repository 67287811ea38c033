"""The window's model: which checkpoint (the engine decides: command line or the file the
user chose > site config > the user's choice of a previous session > bundled), loaded by the
engine on the global pool (a window that closes does not wait for a checkpoint), and what
state it is in. A refused file the user chose leaves the current model in use."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore

from ichviewer.ai.engine import LoadedModel, ModelInfo, resolve_model_path
from ichviewer.site_config import SiteConfig, load_site_config
from ichviewer.ui.ai_worker import ModelFailed, load_model_job
from ichviewer.ui.runner import RequestRunner

if TYPE_CHECKING:
    from ichviewer.ai.predictor import Predictor

logger = logging.getLogger("ichviewer.ui")


class ModelSource(QtCore.QObject):
    """``model_path``: the command line's checkpoint (None: the default), ``False``: no
    AI; ``user_model``: the one the user chose in a previous session."""

    changed = QtCore.Signal()  # state, info or message changed
    loaded = QtCore.Signal(bool)  # a model is ready; True when it is another one
    refused = QtCore.Signal(str)  # a checkpoint the user chose was refused (old one kept)

    def __init__(
        self,
        parent: QtCore.QObject | None,
        model_path: Path | str | bool | None,
        user_model: str | Path | None,
    ) -> None:
        super().__init__(parent)
        self.runner = RequestRunner(self, pool=QtCore.QThreadPool.globalInstance())
        self.disabled = model_path is False
        self._chosen = None if model_path in (None, False, True) else Path(str(model_path))
        self._user_model = user_model or None
        #: the reading room's policy (model, thresholds, auto-scoring), read once per window
        self.site: SiteConfig = load_site_config()
        self.predictor: Predictor | None = None
        self.info: ModelInfo | None = None
        self.state = "off" if self.disabled else "idle"  # idle|loading|ready|missing|error|off
        self.message = "AI is turned off" if self.disabled else ""
        self._load_user = False

    @property
    def path(self) -> Path:
        """The checkpoint to use (ichviewer.ai.engine.resolve_model_path decides)."""
        return resolve_model_path(self._chosen, site=self.site, user=self._user_model)

    @property
    def custom_path(self) -> Path | None:
        """The checkpoint chosen (command line or File > Load model) instead of the default."""
        return self._chosen

    def use_default(self) -> None:
        """Forget a chosen or remembered checkpoint and (re)load the default one."""
        self._chosen = self._user_model = None
        if self.predictor is None:
            self.state, self.message = "idle", ""
            self.ensure()

    def ensure(self) -> None:
        """Start loading the configured model unless it is loaded, loading or known bad."""
        if self.state != "idle":
            return
        path = self.path
        if not path.is_file():
            self.state = "missing"
            self.message = (
                f"No AI model installed (expected {path}); the viewer works without AI. "
                "Load one with File > Load model…"
            )
            logger.warning("no AI model at %s", path)
            self.changed.emit()
            return
        self._start(path, user=False)

    def load(self, path: str | Path) -> None:
        """Validate and switch to another checkpoint; if it is refused the current model
        stays and :attr:`refused` says why."""
        self.disabled = False
        self._start(Path(path), user=True)

    def _start(self, path: Path, user: bool) -> None:
        self._load_user = user
        if self.predictor is None:
            self.state = "loading"
            self.message = f"Loading AI model {path.name}…"
        self.runner.submit(
            "model",
            load_model_job,
            str(path),
            self.site,
            on_returned=self._on_returned,
            on_errored=lambda err: self._refused(err.message),
        )
        self.changed.emit()

    def _on_returned(self, out: LoadedModel | ModelFailed) -> None:
        if isinstance(out, ModelFailed):
            self._refused(out.message)
            return
        another = self.info is None or out.info.sha256 != self.info.sha256
        self.predictor, self.info = out.predictor, out.info
        self.state, self.message = "ready", ""
        if self._load_user and out.info.path:
            self._chosen = Path(out.info.path)
        self.changed.emit()
        self.loaded.emit(another)

    def _refused(self, message: str) -> None:
        logger.error("model refused: %s", message)
        if not (self._load_user and self.predictor is not None):
            self.state, self.message = "error", f"AI model could not be loaded: {message}"
        self.changed.emit()
        if self._load_user:
            self.refused.emit(message)
