"""The model as the reader meets it: what the status bar says when it loads or fails, a
refused checkpoint (message box; the current model stays), File > Load model…, AI > Model
information…, and remembering the reader's choice for the next session."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ichviewer.ui import model_panel
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.parts.common import StatusBar, ai_state_text
from ichviewer.ui.settings import ViewerSettings


class ModelPart:
    """Follows the controller's model; ``from_settings``: the model is the one remembered
    from the last session (if it is gone or broken, the default one is used)."""

    def __init__(
        self,
        win: QtWidgets.QMainWindow,
        settings: ViewerSettings,
        ai: AIController,
        from_settings: bool,
    ) -> None:
        self.win, self.settings, self.ai = win, settings, ai
        self.status = StatusBar(win)
        self._from_settings = from_settings
        self._chosen: Path | None = None
        ai.model_changed.connect(self._on_model_changed)
        ai.model_error.connect(self._on_model_error)
        if ai.site.warnings:  # an administrator's typo: say so, keep going with defaults
            self.status.say(
                f"Site config: {len(ai.site.warnings)} problem(s), defaults used: "
                + "; ".join(ai.site.warnings)
            )

    def _on_model_changed(self) -> None:
        c = self.ai
        if c.state == "error" and self._from_settings and not c.ready:
            # The model chosen last session is gone or broken: say so, use the default one.
            self._from_settings = False
            self.status.say(f"{c.message}; using the bundled model", 2)
            self.settings.model_path = ""
            c.model.use_default()
            return
        if c.state in ("missing", "error"):
            self.status.say(c.message, 2)
        chosen = self._chosen
        if chosen is not None and c.info is not None and c.model.custom_path == chosen:
            self.settings.model_path = str(chosen)  # the reader's choice is kept for next time
            self._chosen = None

    def _on_model_error(self, message: str) -> None:
        info = self.ai.info
        kept = (
            f"The current model ({info.name}, sha {info.short_sha}) is still in use."
            if info is not None
            else "The viewer goes on without AI."
        )
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning,
            "Model not loaded",
            f"The checkpoint was refused:\n\n{message}\n\n{kept}",
            QtWidgets.QMessageBox.StandardButton.Ok,
            self.win,
        )
        self._chosen = None
        box.setObjectName("model_error_box")
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.status.say(f"Model not loaded: {message}", 2)

    def choose_model(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.win, "Load an AI model", "", "ICH Viewer checkpoint (*.pt *.pth);;All files (*)"
        )
        if path:
            self.load_model(path)

    def load_model(self, path: str | Path) -> None:
        """Validate another checkpoint in the background; the study is rescored with it."""
        self.status.say(f"Checking model {Path(path).name}…")
        self._chosen = Path(path)
        self.ai.load_model(path)

    def show_model_panel(self) -> QtWidgets.QDialog:
        self.ai.ensure_model()
        dlg = model_panel.model_dialog(
            self.win, self.ai.info, ai_state_text(self.ai), self.choose_model
        )
        dlg.show()
        return dlg

    def summary_html(self) -> str:
        """The model's lines of the About box."""
        self.ai.ensure_model()
        return model_panel.model_summary_html(self.ai.info, ai_state_text(self.ai), metrics=False)
