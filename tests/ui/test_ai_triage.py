"""The second read: the flagged-slice list and N / Shift+N / P, the reader's marks (saved on
every change, back after a restart), exports, and swapping the model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_slices
from ichviewer.io.marks import marks_path
from tests.ui.ai_support import (
    ai_study,
    ai_window,
    build_checkpoint,
    engine_probabilities,
    open_scored,
    scored_win,
    tiny_ckpt,
    wait_scored,
)

#: Fixtures from ai_support, requested by name.
FIXTURES = (ai_study, ai_window, scored_win, tiny_ckpt)

Qt = QtCore.Qt


def test_list_and_keys_step_through_flagged_slices(qtbot, win, ai_study, tiny_ckpt) -> None:  # noqa: ANN001
    expected = flagged_slices(
        engine_probabilities(tiny_ckpt, ai_study), win.ai.info.thresholds, order="probability"
    )
    order = [f.index for f in expected]
    assert len(order) >= 2 and len(order) < win.n_slices  # some flagged, some not
    win.triage_panel.order.setCurrentIndex(0)  # most suspicious first (anatomical by default)
    assert win.triage_panel.rows() == order
    rows = win.triage_panel.row_texts()
    assert rows[0][0].strip() == str(order[0] + 1)
    assert rows[0][2] == " ".join(
        {
            "epidural": "EDH",
            "intraparenchymal": "IPH",
            "intraventricular": "IVH",
            "subarachnoid": "SAH",
            "subdural": "SDH",
            "any": "any",
        }[lb]
        for lb in expected[0].labels
    )
    summary = win.triage_panel.summary.text()
    assert f"Flagged {len(order)}/{win.n_slices}" in summary
    start = next(i for i in range(win.n_slices) if i not in order)
    win.set_slice(start)
    seen = []
    for _ in order:
        qtbot.keyClick(win, Qt.Key.Key_N)
        seen.append(win.current_index)
        assert win.triage_panel.tree.selectedItems()[0].text(0).strip() == str(seen[-1] + 1)
        assert win.marks_panel.context.text().startswith(f"Slice {seen[-1] + 1} · AI flagged")
    assert seen == order
    qtbot.keyClick(win, Qt.Key.Key_N)  # wraps around
    assert win.current_index == order[0]
    qtbot.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert win.current_index == order[-1]
    qtbot.keyClick(win, Qt.Key.Key_P)
    assert win.current_index == order[-2]
    # By position, N goes up the study.
    win.triage_panel.order.setCurrentIndex(1)
    assert win.triage_panel.rows() == sorted(order)
    win.set_slice(start)
    qtbot.keyClick(win, Qt.Key.Key_N)
    assert win.current_index == sorted(order)[0]
    # Clicking a row shows that slice.
    item = win.triage_panel.tree.topLevelItem(1)
    rect = win.triage_panel.tree.visualItemRect(item)
    qtbot.mouseClick(win.triage_panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.current_index == sorted(order)[1]


def _on_disk(win) -> dict:  # noqa: ANN001
    s = win.reader.series
    return json.loads(marks_path(s.study_instance_uid, s.series_instance_uid).read_text())


def test_marks_are_saved_on_every_change_and_come_back(qtbot, ai_window, win, ai_study) -> None:  # noqa: ANN001
    order = win.triage_panel.rows()
    first, second = order[0], order[1]
    uid = win.reader.series.slices[first].sop_instance_uid
    win.set_slice(first)
    qtbot.keyClick(win, Qt.Key.Key_A)
    assert _on_disk(win)["marks"][uid]["verdict"] == "agree"  # valid JSON after each change
    assert win.marks_panel.buttons["agree"].isChecked()
    qtbot.keyClick(win, Qt.Key.Key_U)
    assert _on_disk(win)["marks"][uid]["verdict"] == "unsure"
    note = win.marks_panel.note
    note.setFocus()
    qtbot.keyClicks(note, "rim, temporal")  # letters go to the note, not to the A/D/U keys
    assert _on_disk(win)["marks"][uid]["verdict"] == "unsure"
    qtbot.keyClick(note, Qt.Key.Key_Return)
    on_disk = _on_disk(win)["marks"][uid]
    assert on_disk["note"] == "rim, temporal" and on_disk["ai_labels"]
    assert on_disk["model_sha256"] == win.ai.info.sha256
    win.image_view.setFocus()
    win.set_slice(second)
    qtbot.mouseClick(win.marks_panel.buttons["disagree"], Qt.MouseButton.LeftButton)
    marks = _on_disk(win)["marks"]
    assert len(marks) == 2
    assert win.triage_panel.row_texts()[1][3].endswith("disagree")
    # A note typed and left without Enter is saved when the reader moves on.
    win.marks_panel.note.setText("")
    qtbot.keyClicks(win.marks_panel.note, "check bone window")
    win.set_slice(first)
    assert _on_disk(win)["marks"][win.reader.series.slices[second].sop_instance_uid]["note"] == (
        "check bone window"
    )
    win.close()
    again = ai_window()
    open_scored(qtbot, again, [ai_study])
    again.set_slice(first)
    assert again.marks_panel.buttons["unsure"].isChecked()
    assert again.marks_panel.note.text() == "rim, temporal"
    reads = {r[0].strip(): r[3] for r in again.triage_panel.row_texts()}
    assert reads[str(first + 1)].endswith("unsure") and reads[str(second + 1)].endswith("disagree")
    # Clicking the checked button again clears the verdict; the note keeps the mark.
    qtbot.mouseClick(again.marks_panel.buttons["unsure"], Qt.MouseButton.LeftButton)
    assert _on_disk(again)["marks"][uid]["verdict"] is None


def test_a_mark_on_a_slice_the_ai_did_not_flag_is_listed(qtbot, win) -> None:  # noqa: ANN001
    quiet = next(i for i in range(win.n_slices) if i not in win.triage_panel.rows())
    win.set_slice(quiet)
    assert "not flagged" in win.marks_panel.context.text()
    qtbot.keyClick(win, Qt.Key.Key_D)  # the reader sees a bleed the AI missed
    assert win.triage_panel.rows()[-1] == quiet
    assert win.triage_panel.row_texts()[-1][2] == "not flagged"


def test_export_results_json_and_csv(qtbot, win, tmp_path) -> None:  # noqa: ANN001
    order = win.triage_panel.rows()
    win.set_slice(order[0])
    qtbot.keyClick(win, Qt.Key.Key_A)
    j = json.loads(win.export_results(tmp_path / "r.json").read_text())
    assert j["model"]["sha256"] == win.ai.info.sha256
    assert "not for diagnostic use" in j["disclaimer"]
    st = j["studies"][0]
    assert st["series_instance_uid"] == win.reader.series.series_instance_uid
    assert len(st["slices"]) == win.n_slices and st["n_scored"] == win.n_slices
    uids = [ref.sop_instance_uid for ref in win.reader.series.slices]
    assert st["flagged"] == [uids[i] for i in sorted(order)]
    got = np.array([[s["probabilities"][lb] for lb in LABELS] for s in st["slices"]])
    np.testing.assert_allclose(got, win.ai.probabilities, atol=1e-6)
    assert st["slices"][order[0]]["mark"]["verdict"] == "agree"
    rows = list(csv.DictReader((win.export_results(tmp_path / "r.csv")).open()))
    assert [r["sop_instance_uid"] for r in rows] == uids
    assert rows[order[0]]["verdict"] == "agree"
    assert float(rows[2]["any"]) == pytest.approx(float(win.ai.probabilities[2, -1]), abs=1e-6)
    assert all(r["model_sha256"] == win.ai.info.sha256 for r in rows)


def _message_box(qtbot) -> QtWidgets.QMessageBox:  # noqa: ANN001
    box: list[QtWidgets.QMessageBox] = []

    def shown() -> bool:
        box[:] = [
            w
            for w in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(w, QtWidgets.QMessageBox) and w.isVisible()
        ]
        return bool(box)

    qtbot.waitUntil(shown, timeout=10_000)
    return box[0]


@pytest.mark.parametrize(
    "content, says",
    [(b"not a checkpoint at all", "not a checkpoint file"), (b"", "empty")],
)
def test_a_bad_model_is_refused_and_the_old_one_kept(qtbot, win, tmp_path, content, says) -> None:  # noqa: ANN001
    before = win.ai.info.sha256
    probs = win.ai.probabilities.copy()
    bad = tmp_path / "broken.pt"
    bad.write_bytes(content)
    win.load_model(bad)
    box = _message_box(qtbot)
    assert "broken.pt" in box.text() and says in box.text()
    assert "still in use" in box.text()
    box.close()
    assert win.ai.info.sha256 == before and win.ai.ready
    np.testing.assert_array_equal(win.ai.probabilities, probs)
    assert win.settings.model_path != str(bad)


def test_loading_another_model_rescores(qtbot, win, ai_study, tmp_path) -> None:  # noqa: ANN001
    before = win.ai.info.sha256
    other = build_checkpoint(tmp_path, ai_study, name="tiny-other", seed=4)
    with qtbot.waitSignal(win.ai.model_changed, timeout=10_000):
        win.load_model(other)
    qtbot.waitUntil(
        lambda: win.ai.info is not None and win.ai.info.sha256 != before, timeout=10_000
    )
    wait_scored(qtbot, win)
    np.testing.assert_allclose(
        win.ai.probabilities, engine_probabilities(other, ai_study), atol=2e-3
    )
    assert "tiny-other" in win.probability_panel.footer.text()
    assert win.settings.model_path == str(other)
