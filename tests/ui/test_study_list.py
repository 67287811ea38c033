"""Patient context in the corner (only where enabled), several patients as several studies,
the unreadable-files table, and the worklist's one item per series, riskiest first."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from PySide6 import QtCore

from ichviewer.ui.worklist import COL_PANY, COL_SLICES
from tests.ui.ai_support import ai_study, ai_window, tiny_ckpt, write_study
from tests.ui.conftest import open_and_wait, write_series

FIXTURES = (ai_study, ai_window, tiny_ckpt)
Qt = QtCore.Qt
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "realct" / "rsna_samples"


def _set_patient(folder: Path, name: str, pid: str, **extra: str) -> None:
    for f in folder.glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.PatientName, ds.PatientID = name, pid
        for k, v in extra.items():
            setattr(ds, k, v)
        ds.save_as(f)


@pytest.fixture(scope="module")
def patients_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three patients, one study each (4, 3 and 2 slices), in one folder."""
    root = tmp_path_factory.mktemp("patients")
    for k, (name, pid, n) in enumerate(
        (("Doe^Jane", "P1", 4), ("Roe^Rick", "P2", 3), ("X^Y", "P3", 2))
    ):
        write_series(root / f"p{k}", n)
        _set_patient(root / f"p{k}", name, pid, PatientSex="F", PatientAge="047Y")
    return root


def test_patient_context_only_where_enabled(
    qtbot, make_window, patients_dir, monkeypatch, tmp_path
) -> None:  # noqa: ANN001
    win = make_window()
    open_and_wait(qtbot, win, [patients_dir / "p0"])
    corner = win.image_view.corners
    assert "Jane" not in corner.text("top_left") and "MRN" not in corner.text("top_left")
    win.actions_.show_name.trigger()  # View > Show patient details
    assert "Doe Jane" in corner.text("top_left")
    assert "MRN P1 · 47 y · F" in corner.text("top_left")
    win.actions_.show_name.trigger()
    assert "MRN" not in corner.text("top_left")
    # A reading room forces it on: the user's (off) setting is kept but does not apply.
    site = tmp_path / "site.json"
    site.write_text(json.dumps({"patient_context": True}))
    monkeypatch.setenv("ICHVIEWER_SITE_CONFIG", str(site))
    forced = make_window(persist=False)
    open_and_wait(qtbot, forced, [patients_dir / "p1"])
    assert "MRN P2" in forced.image_view.corners.text("top_left")
    assert not forced.actions_.show_name.isEnabled() and not forced.settings.show_patient_name
    site.write_text(json.dumps({"patient_context": "yes"}))  # a typo: a warning, the default
    from ichviewer.site_config import load_site_config

    cfg = load_site_config()
    assert cfg.patient_context is None and any("patient_context" in w for w in cfg.warnings)


def test_several_patients_open_as_several_studies(qtbot, make_window, patients_dir) -> None:  # noqa: ANN001
    win = make_window()
    open_and_wait(qtbot, win, [patients_dir])
    panel = win.series_panel
    assert win.series_dock.isVisible() and panel.n_studies == 3
    heads = panel.headings()
    assert [h.split(" · ")[0] for h in heads] == ["Study 1", "Study 2", "Study 3"]
    assert all("Jane" not in h for h in heads)  # names only with the patient context on
    rows = panel.series_rows()
    assert len(rows) == 3
    shown = win.reader.series.patient_id
    target = next(
        r
        for r in rows
        if win.loading.series_list[r.data(Qt.ItemDataRole.UserRole)].patient_id != shown
    )
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        rect = panel.visualItemRect(target)
        qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.reader.series.patient_id != shown
    # A heading is not a series: clicking it changes nothing.
    now = win.reader
    head = next(panel.item(r) for r in range(panel.count()) if panel.item(r).text() in heads)
    qtbot.mouseClick(
        panel.viewport(), Qt.MouseButton.LeftButton, pos=panel.visualItemRect(head).center()
    )
    assert win.reader is now


def test_unreadable_files_table_shows_whole_names_and_reasons(qtbot, make_window, tmp_path) -> None:  # noqa: ANN001
    write_series(tmp_path / "s", 3)
    long_name = "a_rather_long_file_name_that_would_be_cut_in_a_list_" + "x" * 30 + ".dcm"
    (tmp_path / "s" / long_name).write_bytes(b"\x00" * 200)
    win = make_window()
    open_and_wait(qtbot, win, [tmp_path / "s"])
    table = win.problems
    assert win.problems_dock.isVisible() and table.columnCount() == 2
    assert [table.horizontalHeaderItem(c).text() for c in range(2)] == ["File", "Reason"]
    ((name, reason),) = table.rows()
    assert name.endswith(long_name) and reason
    assert long_name in table.item(0, 0).toolTip() and reason in table.item(0, 1).toolTip()
    fm = table.fontMetrics()
    assert table.columnWidth(0) >= fm.horizontalAdvance(name)  # the whole name
    header = table.horizontalHeader()
    assert header.sectionResizeMode(0) == header.ResizeMode.Interactive  # resizable
    header.resizeSection(0, 80)
    assert table.columnWidth(0) == 80


@pytest.fixture(scope="module")
def single_slices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of loose single slices from four patients (one series each)."""
    root = tmp_path_factory.mktemp("singles")
    for k in range(4):
        write_study(root / f"_s{k}", n=1, seed=10 + k)
        (f,) = (root / f"_s{k}").glob("*.dcm")
        _set_patient(root / f"_s{k}", f"P^{k}", f"ID{k}")
        f.rename(root / f"slice{k}.dcm")
        (root / f"_s{k}").rmdir()
    return root


def test_worklist_lists_every_series_riskiest_first(qtbot, ai_window, single_slices) -> None:  # noqa: ANN001
    win = ai_window()
    assert win.open_worklist(single_slices) == 1  # loose files: the folder is the entry
    wl = win.worklist_panel
    qtbot.waitUntil(lambda: not wl.busy and wl.table.rowCount() == 4, timeout=30_000)
    items = wl.items()
    assert len(items) == 4 and all(row[COL_SLICES] == "1" for row in items)
    risks = [float(row[COL_PANY]) for row in items]
    assert risks == sorted(risks, reverse=True)  # by risk, without the reader sorting
    assert wl.table.horizontalHeader().sortIndicatorSection() == COL_PANY


@pytest.mark.skipif(not REAL.is_dir(), reason="shared real CT data not present")
def test_worklist_of_real_single_slices(qtbot, ai_window, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "rsna").symlink_to(REAL)
    win = ai_window()
    assert win.open_worklist(tmp_path) == 1
    wl = win.worklist_panel
    qtbot.waitUntil(lambda: not wl.busy, timeout=120_000)
    assert wl.table.rowCount() == 20  # 20 patients, 20 items
