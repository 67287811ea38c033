"""The heatmap: the CAM of the chosen label of the slice on screen, blended over the image
(H), following slices, scores, labels, opacity and colour map. Out of scope or without a
model there is none, and the controls say why."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6 import QtCore, QtGui

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_labels
from ichviewer.ui.ai_controller import AIController
from ichviewer.ui.ai_style import TITLES, fmt_p
from ichviewer.ui.heatmap import AUTO, HeatmapControls, auto_label, overlay_for
from ichviewer.ui.image_view import ImageView
from ichviewer.ui.parts.common import ai_state_text
from ichviewer.ui.settings import ViewerSettings
from ichviewer.ui.state import ViewerState


class HeatmapPart:
    """Owns the heatmap controls; draws into the image view's overlay layer."""

    def __init__(
        self,
        state: ViewerState,
        settings: ViewerSettings,
        ai: AIController,
        view: ImageView,
    ) -> None:
        self.state, self.settings, self.ai, self.view = state, settings, ai, view
        self.controls = HeatmapControls()
        self.controls.opacity.setValue(settings.heatmap_opacity)
        self.controls.set_colormap(settings.heatmap_colormap)
        self.action: QtGui.QAction | None = None  # AI > Heatmap, checked while on
        self._overlay_key: tuple | None = None
        self.controls.toggled.connect(self.set_on)
        self.controls.changed.connect(self._on_controls)
        state.heatmap.connect(self._on_heatmap)
        state.series.connect(self._on_series)
        state.index_changed.connect(self.refresh)
        ai.scores_changed.connect(lambda: self.refresh() if state.heatmap_on else None)
        ai.cam_ready.connect(lambda i: self.refresh() if i == state.index else None)
        self.refresh()

    def set_on(self, on: bool) -> None:
        """Show the CAM of the chosen label over the image (H)."""
        self.state.set_heatmap(on)

    def toggle(self) -> None:
        self.set_on(not self.state.heatmap_on)

    def set_label(self, label: str | None) -> None:
        """A label of LABELS, or None for the highest-probability label of each slice."""
        if label is not None and label not in LABELS:
            raise ValueError(f"unknown label {label!r}; choose one of {', '.join(LABELS)}")
        self.controls.set_label(label or AUTO)

    def label(self) -> str:
        """The label drawn: the chosen one, or Auto's on this slice."""
        chosen = self.controls.chosen_label
        if chosen != AUTO:
            return chosen
        i = self.state.index
        p = self.ai.probabilities_at(i)
        if p is None and (res := self.ai.cam(i)) is not None:
            p = res.probabilities
        return auto_label(p)

    def _on_heatmap(self) -> None:
        on = self.state.heatmap_on
        self.controls.set_checked(on)
        if self.action is not None:
            with QtCore.QSignalBlocker(self.action):
                self.action.setChecked(on)
        if on:
            self.ai.ensure_model()
        self.refresh()

    def _on_series(self) -> None:
        self._overlay_key = None
        self.view.set_overlay(None)
        if self.state.heatmap_on and self.state.reader is not None:
            self.ai.ensure_model()

    def _on_controls(self) -> None:
        self.settings.heatmap_opacity = self.controls.opacity.value()
        self.settings.heatmap_colormap = self.controls.colormap
        self.refresh()

    def refresh(self) -> None:
        """Redraw the heatmap of the slice on screen from the controller's current CAM."""
        hc, ai, i = self.controls, self.ai, self.state.index
        label = self.label()
        hc.set_auto_text(label)
        if not self.state.heatmap_on or self.state.reader is None:
            self._set_overlay(None, None)
            hc.info.setText("" if self.state.heatmap_on else "Heatmap off (H)")
            return
        if not ai.scope.in_scope:  # a heatmap on a chest would read as a finding
            self._set_overlay(None, None)
            hc.info.setText("No heatmap: this series is out of the model's scope")
            return
        res = ai.cam(i)
        if res is None:
            self._set_overlay(None, None)
            ai.request_cam(i)  # without a model yet: computed once it is loaded
            if ai.ready:
                hc.info.setText("Computing the heatmap of this slice…")
            else:
                hc.info.setText(ai_state_text(ai))
            return
        k = LABELS.index(label)
        p = ai.probabilities_at(i)
        p = res.probabilities if p is None else p
        t = float(ai.thresholds[k])
        below = label not in flagged_labels(p, ai.thresholds)  # a subtype needs 'any' too
        opacity = hc.opacity.value()
        self._set_overlay(
            (id(res), label, opacity, hc.colormap, below),
            lambda: overlay_for(
                res.cams[k], colormap=hc.colormap, opacity=opacity / 100, below_threshold=below
            ),
        )
        faint = (
            (" — below threshold" if p[k] < t else " — 'any' not flagged") + ", drawn faint"
            if below
            else ""
        )
        hc.info.setText(f"{TITLES[label]}: P {fmt_p(p[k])} (threshold {t:.3f}){faint}")

    def _set_overlay(self, key: tuple | None, make: Callable[[], np.ndarray] | None) -> None:
        if key == self._overlay_key:
            return
        self._overlay_key = key
        self.view.set_overlay(None if make is None else make())
