"""Menus, toolbar and keyboard shortcuts of the main window, built in one place.

Every action is a QAction on the window (so its key works wherever the focus is in the
window) and is also in a menu, so the keys can be discovered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from ichviewer.ui.display import DisplayState
from ichviewer.ui.settings import FPS_RANGE

if TYPE_CHECKING:
    from ichviewer.ui.main_window import MainWindow

PRESET_LABELS = (
    ("brain", "Brain", "1"),
    ("subdural", "Subdural", "2"),
    ("bone", "Bone", "3"),
    ("rgb", "RGB", "4"),
    ("stroke", "Stroke", "5"),  # 40/40; more presets in View > Window > Window presets
)


@dataclass
class Actions:
    """Handles to the actions and toolbar widgets the window updates."""

    presets: dict[str, QtGui.QAction] = field(default_factory=dict)
    preset_group: QtGui.QActionGroup | None = None
    sigmoid: QtGui.QAction | None = None
    play: QtGui.QAction | None = None
    fps: QtWidgets.QSpinBox | None = None
    show_name: QtGui.QAction | None = None
    recent_menu: QtWidgets.QMenu | None = None
    view_menu: QtWidgets.QMenu | None = None
    all: dict[str, QtGui.QAction] = field(default_factory=dict)

    def follow_display(self, display: DisplayState) -> None:
        """Check the preset and sigmoid actions of ``display`` (signals blocked)."""
        for name, act in self.presets.items():
            with QtCore.QSignalBlocker(act):
                act.setChecked(name == display.preset)
        with QtCore.QSignalBlocker(self.sigmoid):
            self.sigmoid.setChecked(display.mode == "sigmoid")


def _action(
    win: QtWidgets.QMainWindow,
    acts: Actions,
    key: str,
    text: str,
    slot: Callable[..., object],
    shortcut: str | QtGui.QKeySequence | None = None,
    *,
    checkable: bool = False,
    tip: str = "",
) -> QtGui.QAction:
    a = QtGui.QAction(text, win)
    a.setObjectName(f"action_{key}")
    if shortcut is not None:
        a.setShortcut(QtGui.QKeySequence(shortcut))
    a.setCheckable(checkable)
    if tip:
        a.setToolTip(tip)
    if checkable:
        a.toggled.connect(slot)  # slot(checked)
    else:
        a.triggered.connect(lambda _checked=False: slot())
    win.addAction(a)
    acts.all[key] = a
    return a


def build_actions(win: MainWindow) -> Actions:
    """Create menus, the toolbar and navigation keys for ``win`` on its parts' methods."""
    acts = Actions()
    loading, image = win.loading, win.image
    K = QtGui.QKeySequence.StandardKey
    mb = win.menuBar()

    m_file = mb.addMenu("&File")
    m_file.addAction(
        _action(win, acts, "open_folder", "Open &folder…", loading.choose_folder, "Ctrl+O")
    )
    m_file.addAction(
        _action(
            win, acts, "open_files", "Open fi&les or zip…", loading.choose_files, "Ctrl+Shift+O"
        )
    )
    acts.recent_menu = loading.recent_menu
    m_file.addMenu(acts.recent_menu)
    m_file.addAction(_action(win, acts, "open_demo", "Open &demo study", loading.open_demo))
    m_file.addSeparator()
    _pacs_actions(win, acts, m_file)
    m_file.addSeparator()
    m_file.addAction(_action(win, acts, "quit", "&Quit", win.close, K.Quit))

    m_view = mb.addMenu("&View")
    tb = QtWidgets.QToolBar("Display", win)
    tb.setObjectName("display_toolbar")
    tb.setMovable(False)
    tb.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    win.addToolBar(tb)
    acts.preset_group = QtGui.QActionGroup(win)
    acts.preset_group.setExclusionPolicy(
        QtGui.QActionGroup.ExclusionPolicy.ExclusiveOptional
    )  # none checked = free W/L
    for name, label, key in PRESET_LABELS:
        a = _action(
            win,
            acts,
            f"preset_{name}",
            f"{label} ({key})",
            lambda n=name: image.apply_preset(n),
            key,
        )
        a.setCheckable(True)
        a.setToolTip(
            {"rgb": "Brain / subdural / bone windows as red / green / blue (4)"}.get(
                name, f"{label} window (key {key})"
            )
        )
        acts.preset_group.addAction(a)
        acts.presets[name] = a
        m_view.addAction(a)
        tb.addAction(a)
    acts.sigmoid = _action(
        win,
        acts,
        "sigmoid",
        "Sigmoid (S)",
        image.set_sigmoid,
        "S",
        checkable=True,
        tip="Sigmoid instead of linear window mapping (S)",
    )
    m_view.addAction(acts.sigmoid)
    tb.addAction(acts.sigmoid)
    tb.addSeparator()
    m_view.addSeparator()
    for key, text, slot, sc in (
        ("fit", "Fit (F)", image.fit, "F"),
        ("reset", "Reset (R)", image.reset, "R"),
    ):
        a = _action(win, acts, key, text, slot, sc)
        m_view.addAction(a)
        tb.addAction(a)
    tb.addSeparator()
    acts.play = _action(
        win,
        acts,
        "play",
        "Play (Space)",
        image.set_cine,
        "Space",
        checkable=True,
        tip="Cine: play / pause (Space)",
    )
    m_view.addAction(acts.play)
    tb.addAction(acts.play)
    acts.fps = QtWidgets.QSpinBox(tb)
    acts.fps.setObjectName("fps_spin")
    acts.fps.setRange(*FPS_RANGE)
    acts.fps.setSuffix(" fps")
    acts.fps.setToolTip("Cine speed")
    acts.fps.valueChanged.connect(image.set_cine_fps)
    acts.fps.editingFinished.connect(image.view.setFocus)  # arrows scroll slices again
    tb.addWidget(acts.fps)
    m_view.addSeparator()
    acts.show_name = _action(
        win,
        acts,
        "show_name",
        "Show patient details (name, MRN, age, sex)",
        image.set_show_patient_name,
        checkable=True,
    )
    m_view.addAction(acts.show_name)

    # Navigation keys: window-wide, no menu entries (listed in Help > Keyboard shortcuts).
    # They move the plane on screen: a coronal or sagittal reformat shown alone, else axial.
    for key, sc, delta in (
        ("next", "Down", 1),
        ("prev", "Up", -1),
        ("next10", "PgDown", 10),
        ("prev10", "PgUp", -10),
    ):
        _action(win, acts, key, key, lambda d=delta: _move_shown(win, step=d), sc)
    _action(win, acts, "first", "first", lambda: _move_shown(win, to=0), "Home")
    _action(win, acts, "last", "last", lambda: _move_shown(win, to=1 << 30), "End")

    _mpr_actions(win, acts, m_view, tb)

    m_help = mb.addMenu("&Help")
    m_help.addAction(
        _action(win, acts, "shortcuts", "&Keyboard shortcuts", win.show_shortcuts, "F1")
    )
    m_help.addAction(_action(win, acts, "about", "&About ICH Viewer", win.show_about))
    acts.view_menu = m_view
    image.play_action = acts.play
    acts.follow_display(win.state.display)
    win.state.display_changed.connect(lambda: acts.follow_display(win.state.display))
    return acts


def _move_shown(win: MainWindow, *, step: int = 0, to: int | None = None) -> None:
    """Step (or jump ``to`` an index in) the plane the user is looking at."""
    mpr = win.mpr
    plane = mpr.plane if mpr.layout == "1x1" else "axial"
    if plane == "axial":
        win.state.set_index(win.state.index + step if to is None else to)
    elif mpr.counts.get(plane, 0) > 0:  # the reformat is ready
        mpr.set_index(plane, mpr.index[plane] + step if to is None else to)


def _pacs_actions(win: MainWindow, acts: Actions, m_file: QtWidgets.QMenu) -> None:
    """File > Listen for studies (a toggle), Query/Retrieve, Export AI result as DICOM."""
    pacs = win.pacs
    listen = _action(
        win,
        acts,
        "listen",
        "Li&sten for studies…",
        pacs.set_listening,
        checkable=True,
        tip="Receive studies sent by a PACS or scanner (C-STORE) and score each one",
    )
    pacs.listen_action = listen
    m_file.addAction(listen)
    m_file.addAction(_action(win, acts, "query", "&Query/Retrieve…", pacs.open_query))
    m_file.addAction(
        _action(win, acts, "export_dicom", "Export AI result as DI&COM…", pacs.choose_export_dicom)
    )


def fill_recent_menu(
    menu: QtWidgets.QMenu, recent: list[list[str]], open_cb: Callable[[list[str]], object]
) -> None:
    """Rebuild File > Open recent from the settings' list."""
    menu.clear()
    for entry in recent:
        name = QtCore.QFileInfo(entry[0]).fileName() or entry[0]
        more = f" (+{len(entry) - 1})" if len(entry) > 1 else ""
        a = menu.addAction(f"{name}{more}")
        a.setToolTip("\n".join(entry))
        a.triggered.connect(lambda _c=False, e=entry: open_cb(list(e)))
    menu.setEnabled(bool(recent))


def _mpr_actions(
    win: MainWindow, acts: Actions, m_view: QtWidgets.QMenu, tb: QtWidgets.QToolBar
) -> None:
    """View > Layout and reformats, and the layout buttons and slab box of the toolbar."""
    # Here, not at the top: the reformat choices are all this module needs of the part.
    from ichviewer.ui.parts.mpr import LAYOUTS, PLANES, SLAB_MODES, SLABS_MM

    mpr = win.mpr
    m = m_view.addMenu("Layout and &reformats")
    m.setObjectName("menu_mpr")
    m_view.addSeparator()
    tb.addSeparator()
    groups: dict[str, dict[object, QtGui.QAction]] = {}

    def choice(kind: str, value: object, text: str, slot: Callable[[], object], tip: str = ""):
        a = _action(win, acts, f"{kind}_{value}", text, slot, tip=tip)
        a.setCheckable(True)
        groups.setdefault(kind, {})[value] = a
        m.addAction(a)
        return a

    tips = {"1x1": "One view: the plane chosen below", "1x3": "Axial | coronal | sagittal"}
    for layout in LAYOUTS:
        a = choice("layout", layout, layout, lambda v=layout: mpr.set_layout(v), tips[layout])
        tb.addAction(a)
    m.addSeparator()
    for plane in PLANES:
        choice("plane", plane, plane.capitalize(), lambda v=plane: mpr.set_plane(v))
    m.addSeparator()
    for mm in SLABS_MM:
        text = f"Slab {mm:g} mm" if mm else "Slab off"
        choice("slab", int(mm), text, lambda v=mm: mpr.set_slab(v))
    m.addSeparator()
    for mode, text in SLAB_MODES.items():
        choice("slabmode", mode, f"Slab {text}", lambda v=mode: mpr.set_slab_mode(v))
    m.addSeparator()
    patient = _action(
        win,
        acts,
        "mpr_patient_axes",
        "Reformat on patient axes (tilted studies)",
        lambda on: mpr.set_frame("patient" if on else "acquisition"),
        checkable=True,
        tip="Off: perpendicular to the tilted slices, as on the scanner console",
    )
    m.addAction(patient)
    for kind, group in groups.items():
        exclusive = QtGui.QActionGroup(win)
        exclusive.setObjectName(f"{kind}_group")
        for a in group.values():
            exclusive.addAction(a)
    slab_box = QtWidgets.QComboBox(tb)
    slab_box.setObjectName("slab_box")
    slab_box.setToolTip("Thick slab of the reformats: thickness and MIP or mean")
    slab_box.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    for mode, mode_text in SLAB_MODES.items():
        for mm in SLABS_MM[1:]:
            slab_box.addItem(f"{mode_text} {mm:g} mm", (mm, mode))
    slab_box.insertItem(0, "Slab off", (0.0, "mip"))
    slab_box.activated.connect(lambda i: mpr.set_slab(*slab_box.itemData(i)))
    tb.addWidget(slab_box)

    def follow() -> None:
        chosen = {
            "layout": mpr.layout,
            "plane": mpr.plane,
            "slab": int(mpr.slab_mm),
            "slabmode": mpr.slab_mode,
        }
        for kind, group in groups.items():
            for value, a in group.items():
                with QtCore.QSignalBlocker(a):
                    a.setChecked(value == chosen[kind])
        with QtCore.QSignalBlocker(patient):
            patient.setChecked(mpr.frame == "patient")
        want = (0.0, "mip") if not mpr.slab_mm else (mpr.slab_mm, mpr.slab_mode)
        with QtCore.QSignalBlocker(slab_box):
            items = [tuple(slab_box.itemData(i)) for i in range(slab_box.count())]
            slab_box.setCurrentIndex(items.index(want) if want in items else 0)

    mpr.changed.connect(follow)
    follow()
