"""The heatmap over the image: where it colours, which label, alignment, exports, and the
--screenshot --heatmap contract."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from ichviewer import paths
from ichviewer.app import run_gui
from ichviewer.core.heatmap import DEFAULT_LOW, normalise_map
from ichviewer.core.labels import LABELS
from ichviewer.core.triage import flagged_labels
from ichviewer.ui.export import render_composite
from ichviewer.ui.heatmap import overlay_for
from tests.ui.ai_support import (
    ai_study,
    ai_window,
    open_scored,
    tiny_ckpt,
    wait_cam,
)

#: Fixtures from ai_support, requested by name.
FIXTURES = (ai_study, ai_window, tiny_ckpt)

Qt = QtCore.Qt


def grow(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel (rendering may round a region's edge either way)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= out[:, :-1].copy()
    out[:, :-1] |= out[:, 1:].copy()
    return out


@pytest.fixture
def win(qtbot, ai_window, ai_study):  # noqa: ANN001, ANN201
    w = ai_window()
    open_scored(qtbot, w, [ai_study])
    w.set_slice(5)  # the most suspicious slice of the test study
    w.fit_view()
    return w


def test_overlay_colours_only_where_the_map_is_high(qtbot, win) -> None:  # noqa: ANN001
    before = render_composite(win.image_view)
    qtbot.keyClick(win, Qt.Key.Key_H)
    assert win.heatmap_on and win.ai_actions.heatmap.isChecked()
    assert win.heatmap_controls.check.isChecked()
    wait_cam(qtbot, win)
    after = render_composite(win.image_view)
    label = win.heatmap.label()
    p = win.ai.probabilities_at(5)
    assert label == LABELS[int(np.argmax(p))]  # Auto: the most probable label of this slice
    cam = normalise_map(win.ai.cam(5).cams[LABELS.index(label)])
    changed = np.any(before != after, axis=-1)
    high = cam >= DEFAULT_LOW
    assert changed.any()
    assert not (changed & ~grow(high)).any(), "the overlay coloured pixels where the map is low"
    assert changed[cam >= 0.7].mean() > 0.95  # and is there where the map is high
    assert f"P {p[LABELS.index(label)]:.2f}" in win.heatmap_controls.info.text()
    qtbot.keyClick(win, Qt.Key.Key_H)
    assert not win.image_view.overlay_item.isVisible()
    np.testing.assert_array_equal(render_composite(win.image_view), before)


def test_label_opacity_and_alignment(qtbot, win) -> None:  # noqa: ANN001
    win.set_heatmap(True)
    wait_cam(qtbot, win)
    res = win.ai.cam(5)
    hc = win.heatmap_controls
    win.set_heatmap_label("epidural")
    assert win.heatmap.label() == "epidural"
    expected = overlay_for(
        res.cams[0], colormap=hc.colormap, opacity=hc.opacity.value() / 100, below_threshold=False
    )
    np.testing.assert_array_equal(win.image_view.overlay_item.image, expected)
    hc.opacity.setValue(100)
    assert win.image_view.overlay_item.image[..., 3].max() == 255
    hc.set_colormap("inferno")
    assert win.settings.heatmap_colormap == "inferno" and win.settings.heatmap_opacity == 100
    # A label that did not fire here is drawn faint, and the panel says so.
    win.set_heatmap_label("subdural")
    assert win.image_view.overlay_item.image[..., 3].max() == round(255 * 0.4)
    assert "below threshold" in hc.info.text()
    # Zoom and pan: the overlay keeps the image's pixel grid.
    win.image_view.view_box.scaleBy((0.5, 0.5))
    win.image_view.view_box.translateBy((3.0, -2.0))
    img, ov = win.image_view.image_item, win.image_view.overlay_item
    for pt in (QtCore.QPointF(0, 0), QtCore.QPointF(40.5, 17.25)):
        assert img.mapToScene(pt) == ov.mapToScene(pt)


def test_scrolling_shows_each_slices_own_map(qtbot, win) -> None:  # noqa: ANN001
    win.set_heatmap_label("epidural")
    win.set_heatmap(True)
    wait_cam(qtbot, win)
    first = win.image_view.overlay_item.image.copy()
    qtbot.keyClick(win, Qt.Key.Key_Up)  # slice 4: its map is not computed yet
    assert win.current_index == 4
    wait_cam(qtbot, win)
    res = win.ai.cam(4)
    hc = win.heatmap_controls
    fired = flagged_labels(win.ai.probabilities_at(4), win.ai.thresholds)
    expected = overlay_for(
        res.cams[0],
        colormap=hc.colormap,
        opacity=hc.opacity.value() / 100,
        below_threshold="epidural" not in fired,
    )
    np.testing.assert_array_equal(win.image_view.overlay_item.image, expected)
    assert not np.array_equal(first, expected)


def test_a_subtype_over_its_threshold_on_a_slice_not_called_a_bleed_is_faint(qtbot, win) -> None:  # noqa: ANN001
    """A subtype only fires where 'any' fires: its heatmap elsewhere is drawn faint and the
    panel says why."""
    t = np.asarray(win.ai.thresholds)
    a = LABELS.index("any")
    p = np.stack([win.ai.probabilities_at(i) for i in range(win.n_slices)])
    pairs = [(i, k) for i in range(len(p)) for k in range(a) if p[i, k] >= t[k] and p[i, a] < t[a]]
    assert pairs, "the test study should have a subtype over its threshold on a slice 'any' misses"
    i, k = pairs[0]
    win.set_slice(i)
    win.set_heatmap_label(LABELS[k])
    win.set_heatmap(True)
    wait_cam(qtbot, win)
    hc = win.heatmap_controls
    faint = overlay_for(
        win.ai.cam(i).cams[k],
        colormap=hc.colormap,
        opacity=hc.opacity.value() / 100,
        below_threshold=True,
    )
    np.testing.assert_array_equal(win.image_view.overlay_item.image, faint)
    assert "'any' not flagged, drawn faint" in hc.info.text()


def test_a_heatmap_wanted_before_scoring_comes_from_the_scoring_pass(
    qtbot, ai_window, ai_study, monkeypatch
) -> None:  # noqa: ANN001
    """The slice on screen goes through the network once: its scores and CAMs together."""
    import ichviewer.ui.ai_controller as controller

    own_cam_jobs: list[int] = []
    real = controller.cam_job
    monkeypatch.setattr(
        controller, "cam_job", lambda p, r, i, *a: (own_cam_jobs.append(i), real(p, r, i, *a))[1]
    )
    win = ai_window()
    win.set_heatmap_label("epidural")
    win.set_heatmap(True)
    qtbot.waitUntil(lambda: win.ai.ready, timeout=10_000)
    open_scored(qtbot, win, [ai_study], start_slice=5)
    wait_cam(qtbot, win)
    assert own_cam_jobs == []
    res = win.ai.cam(5)
    np.testing.assert_allclose(res.probabilities, win.ai.slice_probabilities[5], atol=1e-6)
    qtbot.keyClick(win, Qt.Key.Key_Up)  # slice 4 is scored already: a CAM of its own
    wait_cam(qtbot, win)
    assert own_cam_jobs == [4]
    # Reopened, every slice comes from the cache (its scores are kept as they were) and the
    # slice on screen has one pass, for its CAMs.
    win.close()
    again = ai_window()
    again.set_heatmap(True)
    qtbot.waitUntil(lambda: again.ai.ready, timeout=10_000)
    own_cam_jobs.clear()
    open_scored(qtbot, again, [ai_study], start_slice=5)
    wait_cam(qtbot, again)
    assert own_cam_jobs == [5] and again.ai.n_from_cache == again.n_slices


def test_export_view_png_has_a_legend_strip(qtbot, win, tmp_path) -> None:  # noqa: ANN001
    win.set_heatmap(True)
    wait_cam(qtbot, win)
    out = win.exports.export_view_png(tmp_path / "view.png")
    img = QtGui.QImage(str(out))
    view = win.image_view
    assert img.width() == view.width() and img.height() > view.height() + 60
    strip = [
        QtGui.QColor(img.pixel(x, y))
        for y in range(view.height(), img.height())
        for x in range(0, min(img.width(), 400))
    ]
    assert any(c.red() > 200 and 140 < c.green() < 200 and c.blue() < 60 for c in strip), (
        "no amber 'NOT FOR DIAGNOSTIC USE' line"
    )
    lines = [t for t, _ in win.exports.legend_lines()]
    assert lines[-1] == "NOT FOR DIAGNOSTIC USE"
    assert any(win.ai.info.sha256[:8] in t for t in lines)
    assert any(t.startswith("Heatmap: ") for t in lines)


def _coloured(img: QtGui.QImage) -> np.ndarray:
    img = img.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    a = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
    a = a.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).astype(int)
    return (a.max(axis=-1) - a.min(axis=-1)) > 60


@pytest.mark.slow
def test_screenshot_with_heatmap_colours_the_image(qtbot, tmp_path) -> None:  # noqa: ANN001
    """The DESIGN.md contract on the demo study with the bundled model (its hematoma slice)."""
    if not paths.bundled_model_path().is_file() or not paths.demo_study_path().is_dir():
        pytest.skip("bundled model or demo study not installed")
    on, off = tmp_path / "on.png", tmp_path / "off.png"
    assert run_gui([], screenshot=str(on), slice_index=13, heatmap="intraparenchymal") == 0
    assert run_gui([], screenshot=str(off), slice_index=13) == 0
    a, b = _coloured(QtGui.QImage(str(on))), _coloured(QtGui.QImage(str(off)))
    h, w = a.shape
    # Only the image view (left of the AI docks, above the profile): the docks' text and
    # bars shift by a line when the heatmap's info text wraps, which is not the heatmap.
    view = (slice(0, int(0.66 * h)), slice(0, int(0.72 * w)))
    new = a[view] & ~b[view]
    assert np.count_nonzero(new) > 2000, "the heatmap coloured almost nothing in the image"
    ys, xs = np.nonzero(new)  # on the head, not on the corner text
    assert 0.25 < xs.mean() / new.shape[1] < 0.85 and 0.15 < ys.mean() / new.shape[0] < 0.85
    assert run_gui([], screenshot=str(tmp_path / "x.png"), heatmap="hematoma") == 2
