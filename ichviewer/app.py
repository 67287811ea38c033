"""GUI entry point: the only place that creates the QApplication and sets up log handlers.

``ichviewer.cli`` parses the command line and calls :func:`run_gui`. Qt is imported inside
the function so that ``ichviewer triage`` / ``info`` never load it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from ichviewer import paths as app_paths
from ichviewer.core.labels import LABELS

logger = logging.getLogger("ichviewer")

#: Size of the window saved by --screenshot (the PNG has exactly this size).
SCREENSHOT_SIZE = (1400, 900)
#: Longest wait for a study to load before a screenshot is taken anyway.
SCREENSHOT_TIMEOUT_S = 300
#: Longest wait for the AI (model load, scoring, the shown slice's CAM) in screenshot mode.
SCREENSHOT_AI_TIMEOUT_S = 180
SCREENSHOT_PRESETS = ("brain", "subdural", "bone", "rgb")
PLANES = ("axial", "coronal", "sagittal")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Qt's offscreen plugin (used for --screenshot) warns about this for every window; it says
#: nothing about the viewer, so it is logged at debug level only.
_OFFSCREEN_NOISE = "does not support propagateSizeHints"


def setup_logging(level: int = logging.INFO) -> None:
    """INFO and up to a rotating file in the cache dir; warnings to stderr unless the root
    logger already has a handler (``ichviewer.cli`` configures one). Idempotent."""
    root = logging.getLogger("ichviewer")
    if any(getattr(h, "_ichviewer", False) for h in root.handlers):
        return
    root.setLevel(level)
    if not logging.getLogger().handlers:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        err._ichviewer = True  # type: ignore[attr-defined]
        root.addHandler(err)
    try:
        log_dir = app_paths.cache_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(
            log_dir / "ichviewer.log", maxBytes=2_000_000, backupCount=2, encoding="utf-8"
        )
        fh.setFormatter(logging.Formatter(_LOG_FORMAT))
        fh._ichviewer = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    except OSError as exc:  # a read-only home must not stop the viewer
        root.warning("no log file (%s)", exc)


def _no_display() -> bool:
    """True on Linux without X11 or Wayland and no explicit Qt platform (Qt would abort)."""
    return (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    )


def _route_qt_messages_to_logging() -> None:
    """Qt's own warnings go to the "ichviewer.qt" logger (stderr and the log file)."""
    from PySide6 import QtCore

    qt_logger = logging.getLogger("ichviewer.qt")
    t = QtCore.QtMsgType
    levels = {
        t.QtDebugMsg: logging.DEBUG,
        t.QtInfoMsg: logging.INFO,
        t.QtWarningMsg: logging.WARNING,
        t.QtCriticalMsg: logging.ERROR,
        t.QtFatalMsg: logging.CRITICAL,
    }

    def handler(mode: QtCore.QtMsgType, _context: object, message: str) -> None:
        level = logging.DEBUG if _OFFSCREEN_NOISE in message else levels.get(mode, logging.WARNING)
        qt_logger.log(level, "%s", message)

    QtCore.qInstallMessageHandler(handler)


def run_gui(
    paths: list[str],
    *,
    screenshot: str | None = None,
    preset: str | None = None,
    mode: str | None = None,
    slice_index: int | None = None,
    heatmap: str | None = None,
    argv: list[str] | None = None,
    model: str | None = None,
    plane: str | None = None,
) -> int:
    """Open the viewer on ``paths`` (the demo study when empty) and run until it closes.

    With ``screenshot``, render the window offscreen once the study has loaded, apply
    ``preset`` (brain|subdural|bone|rgb), ``mode`` (linear|sigmoid) and ``slice_index``
    (0-based, clamped; with ``plane`` coronal or sagittal, the index of that reformat, shown
    alone; default the middle), wait for the AI's scores of the study (and, with ``heatmap``, the
    CAM of that label on the shown slice), save the PNG and return without an event loop.
    Returns 0 on success, 1 when the screenshot shows no image (study missing or
    unreadable), 2 for a bad argument.
    """
    setup_logging()
    if preset is not None and preset not in SCREENSHOT_PRESETS:
        logger.error("unknown preset %r; choose one of %s", preset, ", ".join(SCREENSHOT_PRESETS))
        return 2
    if mode is not None and mode not in ("linear", "sigmoid"):
        logger.error("unknown mode %r; choose linear or sigmoid", mode)
        return 2
    if plane is not None and plane not in PLANES:
        logger.error("unknown plane %r; choose one of %s", plane, ", ".join(PLANES))
        return 2
    if heatmap is not None and heatmap not in LABELS:
        logger.error("unknown heatmap label %r; choose one of %s", heatmap, ", ".join(LABELS))
        return 2
    if screenshot and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # no display needed to save a picture
    elif _no_display():
        logger.error(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); "
            "use --screenshot, or set QT_QPA_PLATFORM=offscreen"
        )
        return 1

    from PySide6 import QtCore, QtWidgets

    import ichviewer.ui  # noqa: F401 - applies the binding work-arounds first
    from ichviewer.ui.main_window import MainWindow
    from ichviewer.ui.theme import apply_dark_theme

    app = QtWidgets.QApplication.instance()
    if app is None:
        _route_qt_messages_to_logging()
        QtCore.QCoreApplication.setOrganizationName("ichviewer")
        QtCore.QCoreApplication.setApplicationName("ICH Viewer")
        app = QtWidgets.QApplication(list(argv) if argv is not None else sys.argv[:1])
    apply_dark_theme(app)

    if screenshot:
        return _screenshot(
            app, MainWindow, paths, screenshot, preset, mode, slice_index, heatmap, model, plane
        )

    win = MainWindow(model_path=model)
    win.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    win.show()
    if paths:
        win.open_paths(paths)
    else:
        win.open_demo()
    if preset:
        win.apply_preset(preset)
    if mode:
        win.set_mode(mode)
    if heatmap:
        win.set_heatmap_label(heatmap)
        win.set_heatmap(True)
    if plane:
        win.mpr.show_plane(plane)
    return int(app.exec())


def _screenshot(
    app,
    window_cls,
    paths: list[str],
    out: str,
    preset: str | None,  # noqa: ANN001
    mode: str | None,
    slice_index: int | None,
    heatmap: str | None = None,
    model: str | None = None,
    plane: str | None = None,
) -> int:
    """Load, wait, render and save; settings are neither read nor written (reproducible)."""
    from PySide6 import QtCore

    win = window_cls(persist=False, model_path=model)
    win.resize(*SCREENSHOT_SIZE)
    win.show()
    loop = QtCore.QEventLoop()
    win.loader.idle.connect(loop.quit)
    timer = QtCore.QTimer(singleShot=True)
    timer.timeout.connect(loop.quit)
    opened = True
    reformat = plane in ("coronal", "sagittal")  # --slice is then the reformat's index
    if paths:
        win.open_paths(paths, start_slice=None if reformat else slice_index)
    else:
        opened = win.open_demo()
    if opened and win.loader.busy:
        timer.start(SCREENSHOT_TIMEOUT_S * 1000)
        loop.exec()
        if win.loader.busy:
            logger.warning("screenshot taken before the study finished loading")
    win.apply_preset(preset or "brain")
    win.set_mode(mode or "linear")
    if slice_index is not None and win.reader is not None and not reformat:
        win.set_slice(slice_index)
    if plane:
        win.mpr.show_plane(plane, slice_index if reformat else None)
    if heatmap:
        win.set_heatmap_label(heatmap)
        win.set_heatmap(True)
    if win.reader is not None and not _wait_until(
        lambda: win.ai_ready_for_screenshot(want_cam=bool(heatmap)), SCREENSHOT_AI_TIMEOUT_S
    ):
        logger.warning("screenshot taken before the AI finished (%s)", win.ai.describe())
    win.ai.flush()
    if heatmap:
        win.heatmap.refresh()  # the CAM may have landed after the last queued refresh
    if reformat and not win.mpr.wait_until_idle(SCREENSHOT_AI_TIMEOUT_S * 1000):
        logger.warning("screenshot taken before the %s reformat was computed", plane)
    win.fit_view()
    win.mpr.fit()
    app.processEvents()
    pixmap = win.grab()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    ok = pixmap.save(str(out), "PNG")
    shown = win.reader is not None
    win.close()
    win.deleteLater()
    app.processEvents()
    if not ok:
        logger.error("could not write the screenshot to %s", out)
        return 1
    logger.info("screenshot saved to %s", out)
    return 0 if shown else 1


def _wait_until(cond, timeout_s: float) -> bool:  # noqa: ANN001
    """Run the event loop in short slices until ``cond()`` holds or time is up."""
    import time

    from PySide6 import QtCore

    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(20, loop.quit)
        loop.exec()
    return bool(cond())
