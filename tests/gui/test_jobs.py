"""JobRunner itself: one job at a time, updates coalesced, failures turned into a sentence, a clean shutdown.
(The real engine path runs in test_train_job / test_cancel_job; these use small generators to pin the contract.)"""

import numpy as np

from desktop_app.jobs import JobRunner
from engine.errors import DataError
from engine.events import Log, Metrics, Progress, Samples


def burst(cancel):
    for i in range(1, 2001):
        yield Metrics("t", i, {"loss_g": 1.0})
        yield Progress("t", i, 2000)
        yield Samples("t", i, np.zeros((4, 4, 1), np.uint8))
    yield Log("info", "done")


def test_fast_events_are_coalesced_but_no_metric_is_lost(qtbot):
    runner = JobRunner(interval_s=10.0)  # one flush per 10 s: everything arrives in the final batch
    metrics, progress, samples = [], [], []
    runner.metrics.connect(metrics.extend)
    runner.progress.connect(progress.append)
    runner.samples.connect(samples.append)
    with qtbot.waitSignal(runner.finished, timeout=30_000) as finished:
        assert runner.start("burst", burst)
        assert not runner.start("second", burst)  # one job at a time
    assert finished.args == ["burst", "done"]
    assert len(metrics) == 2000  # plots get every point...
    assert len(progress) <= 2 and progress[-1].step == 2000  # ...but only the newest progress and grid
    assert len(samples) <= 2


def test_a_user_error_becomes_one_sentence(qtbot):
    def bad(cancel):
        yield Log("info", "loading")
        raise DataError("The image folder /x does not exist; choose a folder of images.")

    runner = JobRunner()
    failures = []
    runner.failed.connect(failures.append)
    with qtbot.waitSignal(runner.finished, timeout=30_000) as finished:
        runner.start("train", bad)
    assert finished.args == ["train", "failed"]
    assert failures[0].user_error and failures[0].message.startswith("The image folder /x")
    assert "DataError" in failures[0].details


def test_an_unexpected_error_says_so_without_a_traceback(qtbot):
    def broken(cancel):
        raise ZeroDivisionError("division by zero")
        yield  # pragma: no cover

    runner = JobRunner()
    failures = []
    runner.failed.connect(failures.append)
    with qtbot.waitSignal(runner.finished, timeout=30_000):
        runner.start("export", broken)
    assert not failures[0].user_error
    assert "unexpected problem" in failures[0].message and "Traceback" not in failures[0].message


def test_shutdown_cancels_and_joins(qtbot):
    def endless(cancel):
        i = 0
        while not cancel.cancelled:
            i += 1
            yield Progress("t", i, 10**9)

    runner = JobRunner()
    with qtbot.waitSignal(runner.progress, timeout=30_000):
        runner.start("endless", endless)
    assert runner.busy
    assert runner.shutdown(timeout_ms=5_000)
    assert not runner.busy


def test_background_calls_run_off_the_ui_thread_and_the_newest_request_wins(qtbot):
    import threading

    from desktop_app.jobs import BackgroundCalls

    calls = BackgroundCalls()
    results = []
    calls.result.connect(lambda tag, value: results.append(value))
    gate = threading.Event()
    ui_thread = threading.get_ident()
    calls.request("preview", lambda: gate.wait(10) and "stale")
    calls.request("preview", lambda: "replaced")
    calls.request("preview", lambda: threading.get_ident() != ui_thread)
    with qtbot.waitSignal(calls.result, timeout=30_000):
        gate.set()
    qtbot.waitUntil(lambda: not calls.busy, timeout=30_000)
    assert results == [True]  # the first answer was stale, the second never ran, the third ran off the UI thread
    assert calls.shutdown()
