"""The worklist: a folder of studies scored in the background, one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore

from ichviewer.ui.worklist import COL_PANY, COL_SLICES, COL_STATUS, discover_studies
from tests.ui.ai_support import (
    ai_study,
    ai_window,
    engine_probabilities,
    tiny_ckpt,
    write_study,
    zip_folder,
)

#: Fixtures from ai_support, requested by name.
FIXTURES = (ai_study, ai_window, tiny_ckpt)

Qt = QtCore.Qt


@pytest.fixture(scope="module")
def worklist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two studies: a folder and a zip; plus a stray file and a hidden folder (ignored)."""
    root = tmp_path_factory.mktemp("worklist")
    write_study(root / "study_a", n=4, seed=1)
    write_study(root / "_b_src", n=3, seed=2)
    zip_folder(root / "_b_src", root / "study_b.zip")
    for p in (root / "_b_src").iterdir():
        p.unlink()
    (root / "_b_src").rmdir()
    (root / "notes.txt").write_text("not a study")
    (root / ".cache").mkdir()
    return root


def test_discover_studies(worklist_dir: Path) -> None:
    assert [p.name for p in discover_studies(worklist_dir)] == ["study_a", "study_b.zip"]


def test_worklist_scores_each_study_and_opens_one(
    qtbot,
    ai_window,
    worklist_dir,
    tiny_ckpt,  # noqa: ANN001
) -> None:
    win = ai_window()
    assert win.open_worklist(worklist_dir) == 2
    wl = win.worklist_panel
    assert win.worklist_dock.isVisible()
    paths = wl.paths()
    assert [Path(p).name for p in paths] == ["study_a", "study_b.zip"]
    qtbot.waitUntil(lambda: all(wl.status_of(p) == "done" for p in paths), timeout=20_000)
    for p in paths:
        r = wl.row_of(p)
        expected = engine_probabilities(tiny_ckpt, Path(p))[:, -1].max()
        assert float(wl.table.item(r, COL_PANY).text()) == pytest.approx(expected, abs=0.006)
    assert wl.table.item(wl.row_of(paths[0]), COL_SLICES).text() == "4"
    assert "not for diagnostic use" in wl.footer.text()
    # Sortable: by highest P(any), descending.
    wl.table.sortItems(COL_PANY, Qt.SortOrder.DescendingOrder)
    shown = [float(wl.table.item(r, COL_PANY).text()) for r in range(2)]
    assert shown == sorted(shown, reverse=True)
    # Double-click opens the study (the zip here), and it is scored from the cache.
    item = wl.table.item(wl.row_of(paths[1]), 0)
    wl.table.scrollToItem(item)
    rect = wl.table.visualItemRect(item)
    # A real double-click is press, release, then the double-click event (QTest sends the last).
    qtbot.mouseClick(wl.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.reader is None  # one click only selects
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        qtbot.mouseDClick(wl.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: win.ai.scoring_done, timeout=10_000)
    assert win.reader.series.description == "AI TEST 2"
    assert win.ai.n_from_cache == win.n_slices == 3


def test_worklist_without_a_model_says_error(qtbot, make_window, worklist_dir, tmp_path) -> None:  # noqa: ANN001
    win = make_window(model_path=tmp_path / "missing.pt")
    win.open_worklist(worklist_dir)
    wl = win.worklist_panel
    qtbot.waitUntil(lambda: all(wl.status_of(p) == "error" for p in wl.paths()), timeout=5000)
    item = wl.table.item(0, COL_STATUS)
    assert "No AI model" in item.toolTip()
