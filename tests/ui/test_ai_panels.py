"""The AI as the reader meets it: scores of the slice on screen, the study profile, the
cache on reopening, no model at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_mask
from ichviewer.ui.ai_style import fmt_p
from ichviewer.ui.settings import ViewerSettings, save_settings, settings_path
from tests.ui.ai_support import (
    ai_study,
    ai_window,
    engine_probabilities,
    open_scored,
    tiny_ckpt,
    wait_scored,
    write_study,
)

#: Fixtures from ai_support, requested by name.
FIXTURES = (ai_study, ai_window, tiny_ckpt)

Qt = QtCore.Qt


def test_panel_shows_the_engines_probabilities(qtbot, ai_window, ai_study, tiny_ckpt) -> None:  # noqa: ANN001
    win = ai_window()
    open_scored(qtbot, win, [ai_study])
    expected = engine_probabilities(tiny_ckpt, ai_study)
    np.testing.assert_allclose(win.ai.probabilities, expected, atol=2e-3)
    thresholds = np.asarray(win.ai.info.thresholds)
    panel = win.probability_panel
    fired = flagged_mask(expected, thresholds)  # a subtype also needs 'any' to fire
    for i in range(len(expected)):
        win.set_slice(i)
        assert panel.heading.text() == f"Slice {i + 1}/{len(expected)}"
        for k, lb in enumerate(LABELS):
            assert panel.value_text(lb) == fmt_p(expected[i, k])
            assert panel.is_flagged(lb) == fired[i, k]
            assert ("bold" in panel.values[lb].styleSheet()) == panel.is_flagged(lb)
        assert panel.bars["any"].threshold == pytest.approx(thresholds[-1])
    # Which model, and that it is not for diagnostic use, is said under every probability.
    footer = panel.footer.text()
    assert "not for diagnostic use" in footer and win.ai.info.sha256[:8] in footer
    assert "synthetic-phantom model" in footer
    assert win.profile.footer.text() == footer == win.triage_panel.footer.text()


def test_series_context_is_what_the_reader_sees(qtbot, make_window, ai_study, tmp_path) -> None:  # noqa: ANN001
    from tests.ai.conftest import neighbour_context
    from tests.ui.ai_support import build_checkpoint

    ctx = neighbour_context()
    ckpt = build_checkpoint(tmp_path, ai_study, name="tiny-ctx", context=ctx)
    win = make_window(model_path=ckpt)
    open_scored(qtbot, win, [ai_study])
    alone = engine_probabilities(ckpt, ai_study)
    positions = [ref.position_mm for ref in win.reader.series.slices]
    shown = ctx.apply(alone, positions)
    assert np.abs(shown - alone).max() > 0.05  # the stage moves them visibly
    np.testing.assert_allclose(win.ai.slice_probabilities, alone, atol=2e-3)
    np.testing.assert_allclose(win.ai.probabilities, shown, atol=5e-3)
    thresholds = np.asarray(win.ai.info.thresholds)
    panel = win.probability_panel
    fired = flagged_mask(win.ai.probabilities, thresholds)
    for i in (0, 4, 7):
        win.set_slice(i)
        for k, lb in enumerate(LABELS):
            assert panel.value_text(lb) == fmt_p(win.ai.probabilities[i, k])
            assert panel.is_flagged(lb) == fired[i, k]
        status = panel.status.text()
        assert "±10 mm" in status and "series context" in status
        assert f"this slice alone: any {fmt_p(alone[i, -1])}" in status
    # the second-read list and the profile follow the revised probabilities
    flagged = {f.index for f in win.flagged}
    assert flagged == set(np.flatnonzero(fired.any(axis=1)))
    _, y = win.profile.curves["any"].getData()
    np.testing.assert_allclose(y, win.ai.probabilities[:, -1], atol=1e-6)
    from ichviewer.ui.model_panel import model_summary_html

    assert "±5 mm and ±10 mm away" in model_summary_html(win.ai.info)
    # while a slice within 10 mm is unscored, the panel says its value may still move
    from ichviewer.ai.engine import SeriesScoring
    from ichviewer.ai.results import SliceResult

    partial = SeriesScoring(win.ai.predictor, win.reader.series, win.ai.scope)
    for i in range(win.n_slices):
        if i != 6:
            partial.add(i, SliceResult(alone[i]))
    win.ai.scores = partial  # as if slice 6 were still being scored
    win.ai.flush()
    win.set_slice(4)
    assert "neighbours still being scored" in panel.status.text()
    win.set_slice(1)
    assert "neighbours still being scored" not in panel.status.text()


def test_profile_plots_every_label_and_a_click_jumps(qtbot, ai_window, ai_study) -> None:  # noqa: ANN001
    win = ai_window()
    open_scored(qtbot, win, [ai_study])
    prof = win.profile
    x, y = prof.curves["any"].getData()
    positions = [ref.position_mm for ref in win.reader.series.slices]
    np.testing.assert_allclose(x, positions)
    np.testing.assert_allclose(y, win.ai.probabilities[:, -1], atol=1e-6)
    assert prof.threshold_lines["epidural"].value() == pytest.approx(win.ai.info.thresholds[0])
    for target in (1, 6, 3):
        vb = prof.plot.getPlotItem().getViewBox()
        scene = vb.mapViewToScene(QtCore.QPointF(positions[target] + 0.4, 0.5))
        pos = prof.plot.mapFromScene(scene)
        qtbot.mouseClick(prof.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
        qtbot.waitUntil(lambda t=target: win.current_index == t, timeout=3000)
        assert prof.cursor.value() == pytest.approx(positions[target])
    qtbot.keyClick(win, Qt.Key.Key_Down)
    assert prof.cursor.value() == pytest.approx(positions[4])
    prof.toggles["subdural"].setChecked(False)
    assert not prof.curves["subdural"].isVisible()
    assert not prof.threshold_lines["subdural"].isVisible()


def test_reopening_a_study_reads_the_cache(qtbot, ai_window, ai_study) -> None:  # noqa: ANN001
    win = ai_window()
    open_scored(qtbot, win, [ai_study])
    first = win.ai.probabilities.copy()
    assert win.ai.n_from_cache == 0
    win.close()
    again = ai_window()
    open_scored(qtbot, again, [ai_study])
    assert again.ai.n_from_cache == len(first)
    np.testing.assert_array_equal(again.ai.probabilities, first)
    assert "from the cache" in again.statusBar().currentMessage()


def test_opening_another_study_drops_the_old_scores(
    qtbot,
    ai_window,
    ai_study,
    tiny_ckpt,
    tmp_path,  # noqa: ANN001
) -> None:
    other = tmp_path / "other"
    write_study(other, n=5, seed=3)
    win = ai_window()
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        win.open_paths([str(ai_study)])
    win.open_paths([str(other)])  # while the first is being scored
    wait_scored(qtbot, win)
    # anything the first study still had in flight arrives and is dropped
    assert win.ai.runner.wait_until_idle() and win.loader.runner.wait_until_idle()
    win.ai.flush()
    assert win.ai.probabilities.shape == (5, 6)
    np.testing.assert_allclose(
        win.ai.probabilities, engine_probabilities(tiny_ckpt, other), atol=2e-3
    )


def test_automatic_scoring_can_be_turned_off(qtbot, ai_window, ai_study) -> None:  # noqa: ANN001
    settings = ViewerSettings(ai_autoscore=False)
    assert save_settings(settings, settings_path())
    win = ai_window()
    assert not win.actions_.all["autoscore"].isChecked()
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        win.open_paths([str(ai_study)])
    assert win.ai.runner.wait_until_idle()
    assert win.ai.n_scored == 0 and not win.ai.scoring
    assert "Not scored yet" in win.probability_panel.status.text()
    assert win.probability_panel.value_text("any") == "–"
    qtbot.keyClick(win, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)  # AI > Score
    wait_scored(qtbot, win)
    assert win.probability_panel.value_text("any") != "–"
    assert not win.probability_panel.status.isVisible()


def test_without_a_model_the_viewer_works_and_says_so(
    qtbot, make_window, ai_study, tmp_path
) -> None:  # noqa: ANN001
    win = make_window(model_path=tmp_path / "nowhere.pt")
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        win.open_paths([str(ai_study)])
    qtbot.waitUntil(lambda: win.ai.state == "missing", timeout=3000)
    win.ai.flush()
    assert win.reader is not None and win.image_view.image_item.image is not None
    status = win.probability_panel.status.text()
    assert "No AI model" in status and "works without AI" in status
    assert "No AI model loaded" in win.probability_panel.footer.text()
    qtbot.keyClick(win, Qt.Key.Key_H)  # the heatmap has nothing to show, and says why
    assert not win.image_view.overlay_item.isVisible()
    assert "No AI model" in win.heatmap_controls.info.text()
    qtbot.keyClick(win, Qt.Key.Key_N)
    assert win.current_index == win.n_slices // 2


def test_model_panel_and_about_describe_the_model(qtbot, ai_window, ai_study, tiny_ckpt) -> None:  # noqa: ANN001
    from PySide6 import QtWidgets

    win = ai_window()
    open_scored(qtbot, win, [ai_study])
    dlg = win.model.show_model_panel()
    text = dlg.findChild(QtWidgets.QTextBrowser, "model_text").toPlainText()
    for expected in (win.ai.info.sha256, "tiny-ui", "synthetic phantoms", "not for diagnostic use"):
        assert expected in text
    dlg.close()
    about = win.show_about()
    text = about.findChild(QtWidgets.QLabel, "about_text").text()
    assert win.ai.info.sha256 in text and "Intended use" in text and "Metrics" in text
    about.close()
    assert Path(win.ai.info.path) == Path(tiny_ckpt)


def test_the_slice_on_screen_is_scored_first(qtbot, ai_window, ai_study) -> None:  # noqa: ANN001
    assert save_settings(ViewerSettings(ai_autoscore=False), settings_path())
    win = ai_window()
    with qtbot.waitSignal(win.loader.idle, timeout=10_000):
        win.open_paths([str(ai_study)], start_slice=6)
    order: list[int] = []
    win.ai.slice_scored.connect(order.append)
    win.ai_panels.score_study()
    wait_scored(qtbot, win)
    assert order[0] == 6 and sorted(order) == list(range(win.n_slices))
    assert order[1:3] in ([7, 5], [5, 7])  # then its neighbours


def test_heatmap_settings_are_remembered(qtbot, ai_window) -> None:  # noqa: ANN001
    assert save_settings(
        ViewerSettings(heatmap_opacity=35, heatmap_colormap="inferno"), settings_path()
    )
    win = ai_window()
    assert win.heatmap_controls.opacity.value() == 35
    assert win.heatmap_controls.colormap == "inferno"
    win.heatmap_controls.opacity.setValue(80)
    win.close()
    again = ai_window()
    assert again.heatmap_controls.opacity.value() == 80


def test_a_chest_ct_is_out_of_scope_in_the_window(qtbot, ai_window) -> None:  # noqa: ANN001
    from tests.conftest import realct

    chest = realct("transfer_syntaxes") / "CTImage.dcm"
    win = ai_window()
    open_scored(qtbot, win, [chest])
    panel = win.probability_panel
    assert not win.ai.scope.in_scope
    assert panel.status.text().startswith("Out of scope: not a head CT")
    assert panel.rows.isHidden()  # no bars that could read as a result
    assert all(panel.value_text(lb) == "–" for lb in LABELS)
    assert win.flagged == []  # the second-read list is empty
    assert "Out of the model's scope" in win.triage_panel.summary.text()
    win.set_heatmap(True)
    assert not win.image_view.overlay_item.isVisible()
    assert "out of the model's scope" in win.heatmap_controls.info.text()
