"""Configurable mouse bindings of the slice view: what a left, right and middle drag do
(window/level, pan or zoom) and what the wheel does (scroll slices or zoom).

The PACS-like defaults are the view's own handling: left-drag window/level, right-drag zoom,
middle-drag pan, wheel scrolls slices (Ctrl+wheel zooms, Shift+left-drag pans). Another
binding is applied by an event filter on the view's viewport that hands the view each mouse
event as the button that does the chosen action (a right-drag bound to pan arrives as a
middle-drag), so the view, pyqtgraph and the measuring tools keep one code path. A press
also gives the keyboard to the view (out of the note field, say).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6 import QtCore, QtGui, QtWidgets

B = QtCore.Qt.MouseButton
DRAGS = ("left", "right", "middle")
DRAG_ACTIONS = {"window": "Window / level", "pan": "Pan", "zoom": "Zoom"}
WHEEL_ACTIONS = {"slices": "Scroll slices", "zoom": "Zoom"}
#: PACS-like defaults (what the view does without a filter).
DEFAULT_MOUSE: dict[str, str] = {
    "left": "window",
    "right": "zoom",
    "middle": "pan",
    "wheel": "slices",
}
_BUTTON = {"left": B.LeftButton, "right": B.RightButton, "middle": B.MiddleButton}
#: the button the view treats as each action
_NATIVE = {"window": B.LeftButton, "pan": B.MiddleButton, "zoom": B.RightButton}


def valid_bindings(value: object) -> bool:
    """True for a mapping of known keys to allowed actions (settings check)."""
    if not isinstance(value, Mapping):
        return False
    for key, action in value.items():
        allowed = WHEEL_ACTIONS if key == "wheel" else DRAG_ACTIONS if key in DRAGS else None
        if allowed is None or action not in allowed:
            return False
    return True


def complete(bindings: Mapping[str, str] | None) -> dict[str, str]:
    """``bindings`` over the defaults (unknown keys and actions dropped)."""
    out = dict(DEFAULT_MOUSE)
    if bindings and valid_bindings(bindings):
        out.update(bindings)
    return out


class MouseBindings(QtCore.QObject):
    """Event filter on ``view.graphics.viewport()`` applying the bindings of ``settings``
    (its ``mouse`` mapping, kept up to date by :meth:`set_bindings`) to ``view``."""

    def __init__(self, view: QtWidgets.QWidget, settings: object) -> None:
        super().__init__(view)
        self.view, self._settings = view, settings
        self.bindings = complete(getattr(settings, "mouse", None))
        self._map: dict[B, B] = {}
        self._resending = False
        self.set_bindings(self.bindings)
        view.graphics.viewport().installEventFilter(self)

    def set_bindings(self, bindings: Mapping[str, str]) -> None:
        """Apply ``bindings`` (missing keys: the defaults) and keep them in the settings."""
        self.bindings = complete(bindings)
        self._settings.mouse = dict(self.bindings)  # type: ignore[attr-defined]
        self._map = {_BUTTON[k]: _NATIVE[self.bindings[k]] for k in DRAGS}

    def _buttons(self, buttons: QtCore.Qt.MouseButton) -> QtCore.Qt.MouseButton:
        out = B.NoButton
        for physical, native in self._map.items():
            if buttons & physical:
                out |= native
        return out

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if self._resending:
            return False
        t = event.type()
        T = QtCore.QEvent.Type
        if t == T.MouseButtonPress:
            self.view.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
        if t in (T.MouseButtonPress, T.MouseButtonRelease, T.MouseButtonDblClick, T.MouseMove):
            return self._remap_mouse(obj, event)
        if t == T.Wheel and self.bindings["wheel"] == "zoom":
            return self._resend(obj, self._wheel_swapped(event))
        return False

    def _remap_mouse(self, obj: QtCore.QObject, ev: QtGui.QMouseEvent) -> bool:
        tool = getattr(self.view.graphics, "tool_active", False)
        if tool and (ev.button() == B.LeftButton or ev.buttons() & B.LeftButton):
            return False  # measuring tools draw with the left button, whatever it is bound to
        button = self._map.get(ev.button(), ev.button())
        buttons = self._buttons(ev.buttons())
        if button == ev.button() and buttons == ev.buttons():
            return False
        mods = ev.modifiers()
        if button != ev.button():
            mods &= ~QtCore.Qt.KeyboardModifier.ShiftModifier  # Shift+left is pan, not W/L
        new = QtGui.QMouseEvent(
            ev.type(), ev.position(), ev.scenePosition(), ev.globalPosition(), button, buttons, mods
        )
        return self._resend(obj, new)

    @staticmethod
    def _wheel_swapped(ev: QtGui.QWheelEvent) -> QtGui.QWheelEvent:
        """The wheel zooms and Ctrl+wheel scrolls: the view's Ctrl meaning swapped."""
        mods = ev.modifiers() ^ QtCore.Qt.KeyboardModifier.ControlModifier
        return QtGui.QWheelEvent(
            ev.position(),
            ev.globalPosition(),
            ev.pixelDelta(),
            ev.angleDelta(),
            ev.buttons(),
            mods,
            ev.phase(),
            ev.inverted(),
        )

    def _resend(self, obj: QtCore.QObject, new: QtCore.QEvent) -> bool:
        self._resending = True
        try:
            QtWidgets.QApplication.sendEvent(obj, new)
        finally:
            self._resending = False
        return True


def build_mouse_menu(
    menu: QtWidgets.QMenu, bindings: Mapping[str, str], on_change: Callable[[dict], None]
) -> dict[str, dict[str, QtGui.QAction]]:
    """View > Mouse: one radio group per drag and the wheel; ``on_change`` gets the new
    complete bindings. Returns the actions by binding key and action name."""
    current = complete(bindings)
    out: dict[str, dict[str, QtGui.QAction]] = {}
    for key in (*DRAGS, "wheel"):
        sub = menu.addMenu(f"{key.capitalize()} {'wheel' if key == 'wheel' else 'drag'}")
        group = QtGui.QActionGroup(sub)
        out[key] = {}
        for action, text in (WHEEL_ACTIONS if key == "wheel" else DRAG_ACTIONS).items():
            a = sub.addAction(text)
            a.setObjectName(f"mouse_{key}_{action}")
            a.setCheckable(True)
            a.setChecked(current[key] == action)
            group.addAction(a)

            def chosen(_checked: bool = False, k: str = key, v: str = action) -> None:
                current[k] = v
                on_change(dict(current))

            a.triggered.connect(chosen)
            out[key][action] = a
    menu.addSeparator()
    reset = menu.addAction("PACS defaults")
    reset.setObjectName("mouse_defaults")

    def defaults() -> None:
        current.update(DEFAULT_MOUSE)
        for key, acts in out.items():
            for action, a in acts.items():
                a.setChecked(DEFAULT_MOUSE[key] == action)
        on_change(dict(current))

    reset.triggered.connect(defaults)
    return out
