"""torch (about a second and a half to import, and GBs in a bundle) is imported only when a
model is needed: not to open the window, not for ``ichviewer info``; the first scored study
does import it (so these checks can fail).

Each check runs in a fresh interpreter: this test process has long imported torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ichviewer import paths

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def _run(code: str, tmp_path) -> str:
    env = {**ENV, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def _window(then: str = "") -> str:
    """Open the window (default model, no study), run ``then``, print whether torch is in."""
    head = """
    import sys, time
    from PySide6 import QtWidgets
    app = QtWidgets.QApplication([])
    from ichviewer.ui.main_window import MainWindow
    w = MainWindow(persist=False)
    w.show()
    t = time.time()
    while time.time() - t < 1.5:
        app.processEvents()
    """
    return textwrap.dedent(head) + textwrap.dedent(then) + '\nprint("torch" in sys.modules)\n'


def test_opening_the_window_does_not_import_torch(tmp_path):
    assert _run(_window(), tmp_path) == "False"


@pytest.mark.slow
def test_the_first_scored_study_imports_torch(tmp_path):
    if not paths.demo_study_path().is_dir():
        pytest.skip("demo study not installed")
    then = """
    w.open_demo()
    t = time.time()
    while "torch" not in sys.modules and time.time() - t < 120:
        app.processEvents()
        time.sleep(0.02)
    w.close()  # as a user quits: scoring is cancelled and its threads joined before exit
    """
    assert _run(_window(then), tmp_path) == "True"


def test_ichviewer_info_does_not_import_torch(tmp_path):
    if not paths.demo_study_path().is_dir():
        pytest.skip("demo study not installed")
    code = f"""
    import contextlib, io, sys
    from ichviewer.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["info", {str(paths.demo_study_path())!r}, "--json"])
    assert rc == 0, rc
    print("torch" in sys.modules)
    """
    assert _run(code, tmp_path) == "False"
