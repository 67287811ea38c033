"""The request runner: only a lane's current request is heard; tests wait on it."""

from __future__ import annotations

import threading

from ichviewer.ui.runner import RequestRunner


def _gated(gate: threading.Event):  # noqa: ANN202
    def work(x, report, cancel):  # noqa: ANN001, ANN202
        gate.wait(5)
        report(x)
        return x

    return work


def test_a_replaced_request_is_not_heard(qtbot) -> None:  # noqa: ANN001
    runner = RequestRunner(max_threads=2)
    gate = threading.Event()
    heard: list[object] = []
    first = runner.submit("a", _gated(gate), 1, on_progress=heard.append, on_returned=heard.append)
    second = runner.submit("a", _gated(gate), 2, on_progress=heard.append, on_returned=heard.append)
    assert not runner.is_current(first) and runner.is_current(second) and runner.busy("a")
    gate.set()
    assert runner.wait_until_idle(5000)
    assert heard == [2, 2]
    assert runner.stale_dropped >= 1  # the first one's report (and its end) were dropped
    assert not runner.busy() and runner.in_flight() == 0


def test_lanes_are_independent_and_cancel_is_quiet(qtbot) -> None:  # noqa: ANN001
    runner = RequestRunner(max_threads=2)
    gate = threading.Event()
    heard: list[object] = []
    ended: list[str] = []
    runner.submit("a", _gated(gate), "a", on_returned=heard.append)
    runner.submit(
        "b",
        _gated(gate),
        "b",
        on_returned=heard.append,
        on_cancelled=lambda: ended.append("cancelled"),
        on_finished=lambda: ended.append("finished"),
    )
    runner.cancel("b")
    assert runner.busy("a") and not runner.busy("b")
    gate.set()
    with qtbot.waitSignal(runner.idle, timeout=5000):
        pass
    assert heard == ["a"] and ended == []


def test_wait_until_idle_times_out_while_work_runs(qtbot) -> None:  # noqa: ANN001
    runner = RequestRunner(max_threads=1)
    gate = threading.Event()
    runner.submit("a", _gated(gate), 1)
    assert runner.wait_until_idle(50) is False
    gate.set()
    assert runner.wait_until_idle(5000)


def test_an_error_reaches_on_errored(qtbot) -> None:  # noqa: ANN001
    runner = RequestRunner()

    def broken(report, cancel):  # noqa: ANN001, ANN202
        raise ValueError("bad slice")

    errors: list[str] = []
    runner.submit("a", broken, on_errored=lambda e: errors.append(e.message))
    assert runner.wait_until_idle(5000)
    assert errors == ["ValueError: bad slice"]
