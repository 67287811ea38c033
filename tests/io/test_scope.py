"""series_scope on files: the bundled demo (a non-contrast head) is in scope without a warning."""

from __future__ import annotations

from ichviewer.io import SeriesReader, scan
from ichviewer.io.scope import series_scope
from ichviewer.paths import demo_study_path


def test_the_demo_study_is_a_non_contrast_head():
    series = scan([demo_study_path()]).best_series()
    s = series_scope(series, SeriesReader(series))
    assert s.in_scope and not s.contrast and s.reason == ""


def test_loaded_only_decodes_nothing_new():
    series = scan([demo_study_path()]).best_series()
    reader = SeriesReader(series)
    reader.slice(3)
    series_scope(series, reader, loaded_only=True)
    assert int(reader.loaded.sum()) == 1
