"""The viewer state without Qt: its events, and that it imports no Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

import ichviewer.ui.state as state_mod
from ichviewer.io import SeriesReader, scan
from ichviewer.ui.display import DisplayState
from ichviewer.ui.state import ViewerState
from tests.ui.conftest import N_SLICES


def test_the_state_module_imports_no_qt() -> None:
    """Loaded alone (not through the ichviewer.ui package, which sets Qt up), the module
    pulls in neither Qt nor anything of ichviewer.ui at run time."""
    path = Path(state_mod.__file__)
    tree = ast.parse(path.read_text())
    runtime = [
        n
        for n in tree.body
        if isinstance(n, (ast.Import, ast.ImportFrom))  # module level, not under TYPE_CHECKING
    ]
    names = [
        a.name if isinstance(n, ast.Import) else n.module or "" for n in runtime for a in n.names
    ]
    assert not [m for m in names if m.startswith(("PySide6", "pyqtgraph", "ichviewer.ui"))]
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('viewer_state', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "mod.ViewerState(None).set_index(3)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


class TestViewerState:
    def test_events_follow_changes_in_order(self, study_dir) -> None:  # noqa: ANN001
        reader = SeriesReader(scan([study_dir]).best_series())
        st = ViewerState(DisplayState())
        seen: list[tuple[str, int]] = []
        for name in ("closing", "series", "index_changed", "display_changed"):
            getattr(st, name).connect(lambda n=name: seen.append((n, st.index)))
        st.set_index(4)  # nothing open: nothing happens
        assert seen == [] and st.index == 0
        st.set_series(reader)
        assert seen == [("series", N_SLICES // 2), ("index_changed", N_SLICES // 2)]
        seen.clear()
        st.set_index(99)
        assert st.index == N_SLICES - 1 and seen == [("index_changed", N_SLICES - 1)]
        seen.clear()
        st.set_series(None)  # the old series is told it is going first
        assert [n for n, _ in seen] == ["closing", "series", "index_changed"]
        assert st.reader is None and st.n_slices == 0
        st.set_display(st.display.with_preset("bone"))
        assert seen[-1][0] == "display_changed" and st.display.preset == "bone"

    def test_flags_and_marks(self) -> None:
        from ichviewer.core.triage import flagged_slices

        st = ViewerState(DisplayState())
        flags = flagged_slices(np.array([[0.9] * 6, [0.1] * 6]), [0.5] * 6)
        got: list[int] = []
        st.flags_changed.connect(lambda: got.append(len(st.flags)))
        st.set_flags(flags)
        assert got == [1] and st.flag_at(0) is not None and st.flag_at(1) is None
