"""The main window's heatmap: the CAM of the chosen label of the slice on screen, blended
over the image (H), following slices, labels, opacity and colour map. A mixin like
window_ai.py; it uses MainWindow's attributes (ai, heatmap_controls, image_view, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore

from ichviewer.core.labels import LABELS
from ichviewer.ui.ai_style import TITLES, fmt_p
from ichviewer.ui.heatmap import AUTO, auto_label, overlay_for

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow


class HeatmapMixin:
    """Heatmap on / off, label and look; the overlay of the slice on screen."""

    def set_heatmap(self: MainWindow, on: bool) -> None:
        """Show the CAM of the chosen label over the image (H)."""
        self._heatmap_on = bool(on)
        self.heatmap_controls.set_checked(self._heatmap_on)
        with QtCore.QSignalBlocker(self.ai_actions.heatmap):
            self.ai_actions.heatmap.setChecked(self._heatmap_on)
        if on:
            self.ai.ensure_model()
        self.refresh_heatmap()

    def toggle_heatmap(self: MainWindow) -> None:
        self.set_heatmap(not self._heatmap_on)

    def set_heatmap_label(self: MainWindow, label: str | None) -> None:
        """A label of LABELS, or None for the highest-probability label of each slice."""
        if label is not None and label not in LABELS:
            raise ValueError(f"unknown label {label!r}; choose one of {', '.join(LABELS)}")
        self.heatmap_controls.set_label(label or AUTO)

    def heatmap_label(self: MainWindow) -> str:
        chosen = self.heatmap_controls.chosen_label
        if chosen != AUTO:
            return chosen
        p = self.ai.probabilities_at(self._index)
        if p is None and (res := self.ai.cam(self._index)) is not None:
            p = res.probabilities
        return auto_label(p)

    def _on_heatmap_settings(self: MainWindow) -> None:
        self.settings.heatmap_opacity = self.heatmap_controls.opacity.value()
        self.settings.heatmap_colormap = self.heatmap_controls.colormap
        self.refresh_heatmap()

    def refresh_heatmap(self: MainWindow) -> None:
        """Redraw the heatmap of the slice on screen from the controller's current CAM."""
        hc = self.heatmap_controls
        label = self.heatmap_label()
        hc.set_auto_text(label)
        if not self._heatmap_on or self.reader is None:
            self._set_overlay(None, None)
            hc.info.setText("" if self._heatmap_on else "Heatmap off (H)")
            return
        if not self.ai.scope.in_scope:  # a heatmap on a chest would read as a finding
            self._set_overlay(None, None)
            hc.info.setText("No heatmap: this series is out of the model's scope")
            return
        i = self._index
        res = self.ai.cam(i)
        if res is None:
            self._set_overlay(None, None)
            if self.ai.ready:
                self.ai.request_cam(i)
                hc.info.setText("Computing the heatmap of this slice…")
            else:
                hc.info.setText(self._ai_state_text())
            return
        k = LABELS.index(label)
        p = self.ai.probabilities_at(i)
        p = res.probabilities if p is None else p
        t = float(self.ai.thresholds[k])
        below = bool(p[k] < t)
        key = (id(res), label, hc.opacity.value(), hc.colormap, below)
        self._set_overlay(
            key,
            lambda: overlay_for(
                res.cams[k],
                colormap=hc.colormap,
                opacity=hc.opacity.value() / 100,
                below_threshold=below,
            ),
        )
        faint = " — below threshold, drawn faint" if below else ""
        hc.info.setText(f"{TITLES[label]}: P {fmt_p(p[k])} (threshold {t:.3f}){faint}")

    def _set_overlay(self: MainWindow, key: tuple | None, make) -> None:  # noqa: ANN001
        if key == self._overlay_key:
            return
        self._overlay_key = key
        self.image_view.set_overlay(None if make is None else make())

    @property
    def heatmap_on(self: MainWindow) -> bool:
        return self._heatmap_on
