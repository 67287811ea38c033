"""SeriesReader.load_all with decoder processes: same HU, slice on screen first, failures."""

from __future__ import annotations

import os
import signal
import time
import tracemalloc
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import RLELossless

from ichviewer.io import SeriesReader, decode_pool, scan
from tests.dicom_factory import ct_dataset


def _write_rle_series(folder: Path, n: int = 8, size: int = 64) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        hu = rng.integers(-1100, 1500, (size, size)).astype(np.float64)
        ds = ct_dataset(hu, z=2.0 * i, instance=i + 1, series_uid="1.2.3.77", signed=True)
        ds.compress(RLELossless, encoding_plugin="pydicom")
        ds.save_as(folder / f"s{i:02d}.dcm", enforce_file_format=True)
    return folder


@pytest.fixture(scope="module")
def rle_series(tmp_path_factory) -> Path:
    return _write_rle_series(tmp_path_factory.mktemp("rle") / "series")


def _serial(folder: Path) -> np.ndarray:
    reader = SeriesReader(scan(folder).series[0])
    return reader.load_all(strategy="serial").copy()


class TestLoadAllProcesses:
    def test_same_hu_as_serial_and_screen_slice_first(self, rle_series: Path) -> None:
        series = scan(rle_series).series[0]
        reader = SeriesReader(series)
        assert reader.strategy() == "serial"  # RLE decodes faster than a process hands it back
        seen: list[int] = []
        order = [5, 4, 6, 3, 7, 2, 1, 0]
        reader.load_all(order=order, on_slice=lambda i, n: seen.append(i), strategy="processes")
        assert seen[0] == 5
        assert sorted(seen) == list(range(8))
        assert reader.loaded.all() and not reader.errors
        np.testing.assert_array_equal(reader.volume, _serial(rle_series))

    def test_bad_file_is_named_and_the_rest_loads(self, rle_series: Path, tmp_path: Path) -> None:
        folder = tmp_path / "study"
        folder.mkdir()
        for p in rle_series.iterdir():
            (folder / p.name).write_bytes(p.read_bytes())
        series = scan(folder).series[0]
        (folder / "s03.dcm").write_bytes(b"\0" * 200)  # replaced after the scan: undecodable
        before = sorted(p.name for p in folder.iterdir())
        reader = SeriesReader(series)
        reader.load_all(strategy="processes")
        assert [Path(e.file).name for e in reader.errors] == ["s03.dcm"]
        assert reader.failed.sum() == 1 and reader.loaded.all()
        good = ~reader.failed
        np.testing.assert_array_equal(reader.volume[good], _serial(rle_series)[good])
        assert sorted(p.name for p in folder.iterdir()) == before  # nothing written there

    def test_killed_workers_are_replaced(self, rle_series: Path) -> None:
        pool = decode_pool.get_pool()
        if pool is None:
            pytest.skip("no decoder processes on this machine")
        pool.submit(int, 0).result(timeout=60)  # the workers are up
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        reader = SeriesReader(scan(rle_series).series[0])
        reader.load_all(strategy="processes")
        assert not reader.errors and reader.loaded.all()
        np.testing.assert_array_equal(reader.volume, _serial(rle_series))

    def test_a_file_that_kills_its_worker_is_refused_alone(
        self, rle_series: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        series = scan(rle_series).series[0]
        poison = series.slices[2].source

        def fake_submit(items):  # in-process stand-in for a pool whose worker dies on poison
            fut: Future = Future()
            if any(ref.source == poison for _, ref in items):
                fut.set_exception(BrokenProcessPool("a worker died"))
            else:
                fut.set_result(decode_pool.decode_chunk(items))
            return fut

        monkeypatch.setattr(decode_pool, "submit", fake_submit)
        monkeypatch.setattr(decode_pool, "reset", lambda: None)
        reader = SeriesReader(series)
        reader.load_all(order=[0, 1, 2, 3, 4, 5, 6, 7], strategy="processes")
        assert len(reader.errors) == 1
        assert reader.errors[0].file.endswith("s02.dcm")
        assert "crashed" in reader.errors[0].error
        assert reader.failed.tolist() == [i == 2 for i in range(8)]

    def test_no_processes_falls_back_to_threads(
        self, rle_series: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def no_pool(items):
            raise decode_pool.PoolBroken("no decoder processes")

        monkeypatch.setattr(decode_pool, "submit", no_pool)
        reader = SeriesReader(scan(rle_series).series[0])
        reader.load_all(strategy="processes")
        np.testing.assert_array_equal(reader.volume, _serial(rle_series))

    def test_memory_is_one_volume(self, tmp_path: Path) -> None:
        folder = _write_rle_series(tmp_path / "big", n=48, size=256)
        reader = SeriesReader(scan(folder).series[0])
        volume_bytes = reader.volume.nbytes
        tracemalloc.start()
        try:
            reader.load_all(strategy="processes")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # the float32 volume (allocated before) plus a few slices in flight, never a second one
        assert peak < 0.35 * volume_bytes


class TestWorkerCount:
    def test_environment_sets_the_pool_size(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(decode_pool.WORKERS_ENV, "0")
        assert decode_pool.pool_workers() == 0
        monkeypatch.setenv(decode_pool.WORKERS_ENV, "3")
        assert decode_pool.pool_workers() == 3


def test_a_decoder_that_holds_the_gil_goes_to_processes(rle_series: Path, monkeypatch) -> None:
    from ichviewer.io import reader as reader_mod

    monkeypatch.setattr(reader_mod, "STRATEGY_BY_SYNTAX", {})  # as gdcm / openjpeg syntaxes
    assert SeriesReader(scan(rle_series).series[0]).strategy() == "processes"
    monkeypatch.setattr(reader_mod, "STRATEGY_BY_SYNTAX", {"1.2.840.10008.1.2.5": "threads"})
    assert SeriesReader(scan(rle_series).series[0]).strategy() == "threads"


class TestScanInProcesses:
    def test_same_series_and_errors_as_reading_here(self, tmp_path: Path) -> None:
        """With the decoder processes running, a large folder's headers are read there:
        the same series, slice order and refused files (named) as reading them here."""
        folder = tmp_path / "big"
        folder.mkdir()
        rng = np.random.default_rng(3)
        for i in range(70):
            hu = rng.integers(-1000, 100, (16, 16)).astype(np.float64)
            ds = ct_dataset(hu, z=1.5 * i, instance=i + 1, series_uid="1.2.3.88")
            ds.save_as(folder / f"f{(i * 37) % 70:02d}.dcm", enforce_file_format=True)
        (folder / "f99_broken.dcm").write_bytes(b"DICM" * 10)
        decode_pool.reset()
        here = scan(folder)
        pool = decode_pool.get_pool()
        if pool is None:
            pytest.skip("no decoder processes on this machine")
        pool.submit(int, 0).result(timeout=60)  # the workers are up
        calls: list[int] = []
        real = decode_pool.submit_call

        def counting(fn, *args):  # noqa: ANN001, ANN202
            calls.append(len(args[0]))
            return real(fn, *args)

        try:
            decode_pool.submit_call = counting
            there = scan(folder)
        finally:
            decode_pool.submit_call = real
        assert sum(calls) == 71  # every file went to a worker
        (a,), (b,) = here.series, there.series
        assert [s.source for s in a.slices] == [s.source for s in b.slices]
        assert [s.position_mm for s in b.slices] == sorted(s.position_mm for s in b.slices)
        assert [Path(e.file).name for e in there.errors] == ["f99_broken.dcm"]
        assert [e.error for e in there.errors] == [e.error for e in here.errors]


def test_jpeg2000_decodes_in_threads_when_imagecodecs_takes_it(tmp_path: Path, monkeypatch) -> None:
    """imagecodecs' openjpeg releases the GIL: a JPEG 2000 series loads in threads, with the
    same HU as a serial load; without imagecodecs (pydicom's decoders hold the GIL) it goes
    to processes."""
    from pydicom.uid import JPEG2000Lossless

    from ichviewer.io import fast_codecs

    if not fast_codecs.available(JPEG2000Lossless):
        pytest.skip("imagecodecs without openjpeg")
    folder = tmp_path / "j2k"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(6):
        hu = rng.integers(-1024, 1500, (64, 64)).astype(np.float64)
        ds = ct_dataset(hu, z=2.0 * i, instance=i + 1, series_uid="1.2.3.78", signed=True)
        ds.compress(JPEG2000Lossless)
        ds.save_as(folder / f"s{i:02d}.dcm", enforce_file_format=True)
    reader = SeriesReader(scan(folder).series[0])
    assert reader.strategy() == "threads"
    np.testing.assert_array_equal(reader.load_all(workers=2), _serial(folder))
    monkeypatch.setattr(fast_codecs, "available", lambda ts: False)
    assert SeriesReader(scan(folder).series[0]).strategy() == "processes"
