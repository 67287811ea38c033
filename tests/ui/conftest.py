"""Fixtures for the viewer tests: small synthetic CT studies written with pydicom and main
windows driven with qtbot (user folders are isolated by tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROWS, COLS = 128, 96
N_SLICES = 12
#: PixelSpacing (row, column) in mm: deliberately not square, to test the aspect ratio.
SPACING = (0.6, 0.9)
SLICE_GAP = 5.0
#: Known HU regions of every slice (row slice, column slice, HU).
REGIONS = {
    "brain": (slice(30, 100), slice(20, 76), 40.0),
    "blood": (slice(40, 60), slice(30, 50), 80.0),
    "bone": (slice(10, 20), slice(10, 86), 1000.0),
    "csf": (slice(70, 90), slice(55, 70), 5.0),
}
AIR = -1000.0

#: The offscreen platform plugin, used only by tests and --screenshot, warns whenever a window
#: with a minimum size is shown; no real platform does. Every other Qt warning fails a test.
OFFSCREEN_ONLY_WARNING = r"This plugin does not support propagateSizeHints\(\)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_ONLY_WARNING))


def marker_hu(index: int) -> float:
    """HU of the small square that differs per slice (tells slices apart on screen)."""
    return -500.0 + 50.0 * index


def phantom_slice(index: int) -> np.ndarray:
    """HU of slice ``index`` of the synthetic study (float32)."""
    hu = np.full((ROWS, COLS), AIR, dtype=np.float32)
    for name in ("brain", "blood", "bone", "csf"):
        r, c, v = REGIONS[name]
        hu[r, c] = v
    hu[110:120, 5:15] = marker_hu(index)
    return hu


def write_slice(
    path: Path,
    hu: np.ndarray,
    *,
    index: int,
    series_uid: str,
    study_uid: str,
    description: str = "HEAD 5mm",
    thickness: float = 5.0,
    spacing: tuple[float, float] = SPACING,
    series_number: int = 2,
    z0: float = 0.0,
    gap: float = SLICE_GAP,
) -> None:
    """One CT slice, int16 stored = HU + 1024 with intercept -1024 (exercises the modality LUT)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "CT"
    ds.PatientName = "Test^Patient"
    ds.PatientID = "TEST-0001"
    ds.StudyDate = "20240131"
    ds.SeriesDescription = description
    ds.SeriesNumber = series_number
    ds.InstanceNumber = index + 1
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0.0, 0.0, z0 + index * gap]
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = thickness
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = (np.rint(hu) + 1024).astype("<i2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_series(
    folder: Path, n: int = N_SLICES, *, study_uid: str | None = None, **kw: object
) -> str:
    """Write ``n`` phantom slices into ``folder`` (shuffled file names); returns the series UID."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    study_uid = study_uid or generate_uid()
    names = np.random.default_rng(n).permutation(n)
    for i in range(n):
        write_slice(
            folder / f"im{names[i]:03d}.dcm",
            phantom_slice(i),
            index=i,
            series_uid=series_uid,
            study_uid=study_uid,
            **kw,
        )  # type: ignore[arg-type]
    return series_uid


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 12-slice series of 128 x 96 pixels."""
    d = tmp_path_factory.mktemp("study")
    write_series(d)
    return d


@pytest.fixture(scope="session")
def two_series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study with a 12-slice 5 mm series and a 6-slice 1 mm series."""
    d = tmp_path_factory.mktemp("two_series")
    study = generate_uid()
    write_series(d / "thick", study_uid=study)
    write_series(
        d / "thin",
        6,
        study_uid=study,
        description="HEAD 1mm BONE",
        thickness=1.0,
        series_number=3,
        gap=1.0,
    )
    return d


@pytest.fixture(scope="session")
def bad_files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good slices plus a text file named .dcm and a truncated DICOM file."""
    d = tmp_path_factory.mktemp("bad_files")
    write_series(d, 6)
    (d / "notes_renamed.dcm").write_text("this is a text file, not DICOM\n" * 20)
    good = sorted(d.glob("im*.dcm"))[0].read_bytes()
    (d / "truncated.dcm").write_bytes(good[: len(good) - 4000])
    return d


@pytest.fixture
def slow_decode(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Make every slice decode take ``seconds`` (to catch a load in progress)."""
    import time

    import ichviewer.io.reader as reader_mod

    real = reader_mod.decode_hu

    def install(seconds: float) -> None:
        def slow(ref, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            time.sleep(seconds)
            return real(ref, *args, **kwargs)

        monkeypatch.setattr(reader_mod, "decode_hu", slow)

    return install


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[..., object]]:  # noqa: ANN001
    """Create shown main windows; they are closed (and their loads stopped) afterwards."""
    from ichviewer.ui.main_window import MainWindow

    made: list[MainWindow] = []

    def make(**kw: object) -> MainWindow:
        win = MainWindow(**kw)  # type: ignore[arg-type]
        qtbot.addWidget(win)
        win.resize(900, 700)
        with qtbot.waitActive(win):  # keyboard shortcuts need the active window
            win.show()
            win.activateWindow()
        made.append(win)
        return win

    yield make
    for win in made:
        win.loader.shutdown()


def open_and_wait(qtbot, win, paths: list[Path | str], timeout: int = 10_000, **kw) -> None:  # noqa: ANN001
    """Open a study in ``win`` and wait until loading has finished."""
    with qtbot.waitSignal(win.loader.idle, timeout=timeout):
        win.open_paths([str(p) for p in paths], **kw)
    qtbot.waitUntil(lambda: not win.loader.busy, timeout=timeout)
