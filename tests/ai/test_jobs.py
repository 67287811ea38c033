"""ScoringJob: the slice on screen first, follow the user, stop when told."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ichviewer.ai.jobs import ScoringJob, priority_order
from ichviewer.ai.predictor import Predictor
from ichviewer.io import SeriesReader, scan
from tests.ai.conftest import head_slice

N = 9


@pytest.fixture(scope="module")
def predictor(tiny_ckpt) -> Predictor:
    return Predictor(tiny_ckpt, device="cpu", precision="fp32", batch_size=3)


@pytest.fixture(scope="module")
def slices() -> list[np.ndarray]:
    return [head_slice(seed=i) for i in range(N)]


def _uids(n: int = N) -> list[str]:
    return [f"1.2.{i}" for i in range(n)]


class TestPriorityOrder:
    def test_centre_out(self):
        assert priority_order(3, 7) == [3, 4, 2, 5, 1, 6, 0]
        assert priority_order(0, 3) == [0, 1, 2]
        assert priority_order(99, 3) == [2, 1, 0]
        assert priority_order(0, 0) == []


class TestScoringJob:
    def test_starts_at_the_slice_on_screen(self, predictor, slices):
        seen = []
        results = ScoringJob(predictor, slices.__getitem__, _uids(), order=4).run(
            on_result=lambda i, r: seen.append(i)
        )
        assert seen == priority_order(4, N)
        assert sorted(results) == list(range(N))
        direct = predictor.predict(slices)
        for i in range(N):
            np.testing.assert_allclose(results[i].probabilities, direct[i].probabilities, atol=1e-5)

    def test_reprioritise_jumps_to_the_new_slice(self, predictor, slices):
        seen = []
        job = ScoringJob(predictor, slices.__getitem__, _uids(), order=4)

        def on_result(i, _res):
            seen.append(i)
            if len(seen) == 1:
                job.reprioritise(0)  # the user scrolled to the bottom

        job.run(on_result=on_result)
        assert seen[0] == 4
        assert seen[1:] == [i for i in priority_order(0, N) if i != 4]

    def test_cam_next_scores_that_slice_with_its_cams_in_one_pass(self, predictor, slices):
        calls: list[tuple[int, bool]] = []
        real = predictor.predict

        def counting(hu, want_cam=False):
            calls.append((len(hu), want_cam))
            return real(hu, want_cam=want_cam)

        job = ScoringJob(counting_predictor(predictor, counting), slices.__getitem__, _uids())
        seen = []

        def on_result(i, res):
            seen.append((i, res.cams is not None))
            if len(seen) == 1:
                assert job.cam_next(6)  # the user turned the heatmap on at slice 6
                assert not job.cam_next(0)  # done already: no longer pending

        results = job.run(on_result=on_result)
        assert seen[:2] == [(0, False), (6, True)] and sorted(results) == list(range(N))
        assert calls[:2] == [(1, False), (1, True)]  # the CAM came with the slice's scores
        assert sum(n for n, cam in calls if cam) == 1
        np.testing.assert_allclose(
            results[6].probabilities, predictor.predict_one(slices[6]).probabilities, atol=1e-5
        )

    def test_cam_next_of_a_cached_slice_reads_the_cache(self, predictor, slices, tmp_path):
        from ichviewer.ai.cache import ResultCache

        cache = ResultCache(predictor.sha256, root=tmp_path)
        cache.put(_uids()[6], np.full(6, 0.25, np.float32))
        job = ScoringJob(predictor, slices.__getitem__, _uids(), cache=cache)
        seen = []

        def on_result(i, res):
            seen.append((i, res.from_cache, res.cams is not None))
            if len(seen) == 1:
                assert job.cam_next(6)

        job.run(on_result=on_result)
        assert seen[1] == (6, True, False)  # its scores stay the cached ones
        np.testing.assert_array_equal(cache.get(_uids()[6]), np.full(6, 0.25, np.float32))

    def test_cancel_drops_the_rest(self, predictor, slices):
        seen = []
        job = ScoringJob(predictor, slices.__getitem__, _uids(), order=0)

        def on_result(i, _res):
            seen.append(i)
            if len(seen) == 2:
                job.cancel()

        results = job.run(on_result=on_result)
        assert job.cancelled and job.finished
        # The 2nd result came in a batch of 3; the batch's last result arrived after cancel.
        assert seen == [0, 1] and sorted(results) == [0, 1]

    def test_cancel_from_another_thread_drops_the_batch_in_flight(self, predictor, slices):
        reached, gate = threading.Event(), threading.Event()

        def get_slice(i):
            if i == 3:
                reached.set()
                gate.wait(10)
            return slices[i]

        seen = []
        job = ScoringJob(predictor, get_slice, _uids(), order=0)
        job.start(on_result=lambda i, r: seen.append(i))
        assert reached.wait(10)
        job.cancel()
        gate.set()
        assert job.wait(10)
        assert job.error is None
        # Batches are [0] (the slice on screen, alone) then [1, 2, 3], which was being read
        # when cancel came: all of it is dropped, nothing after it is started.
        assert seen == [0]
        assert sorted(job.results) == [0]

    def test_runs_a_series_reader(self, predictor, dicom_study):
        folder, uids = dicom_study
        series = scan([folder]).series[0]
        reader = SeriesReader(series)
        done = []
        results = ScoringJob(
            predictor, reader, [s.sop_instance_uid for s in series.slices], order=2
        ).run(on_progress=lambda n, total: done.append((n, total)))
        assert done[-1] == (5, 5) and len(results) == 5
        assert [s.sop_instance_uid for s in series.slices] == uids

    def test_explicit_order_is_checked(self, predictor, slices):
        with pytest.raises(IndexError):
            ScoringJob(predictor, slices.__getitem__, _uids(), order=[0, N])


def counting_predictor(predictor, predict):
    """``predictor`` with its ``predict`` replaced (a ScoringJob uses nothing else of it but
    batch_size and sha256)."""

    class Counting:
        batch_size = predictor.batch_size
        sha256 = predictor.sha256

    c = Counting()
    c.predict = predict
    return c
