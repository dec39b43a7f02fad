"""The background writer: jobs run in order on one thread, the caller waits once ``pending`` are
unfinished (so memory stays bounded), failures reach the caller, and an interrupted run lets the
write in progress finish but starts no other."""

from __future__ import annotations

import threading
import time

import pytest

from blur2video.background import BackgroundWriter

DEADLINE_S = 30.0


def _until(condition) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "the writer never got there"
        time.sleep(0.001)


def test_results_come_back_in_order_and_failures_reach_the_caller() -> None:
    def job(k: int) -> int:
        if k == 3:
            raise OSError("disk full")
        return k * k

    with BackgroundWriter(pending=2) as writer:
        for k in range(5):
            writer.submit(job, k)
        futures = list(writer.finished(wait=True))
    assert [f.result() for f in futures if f.exception() is None] == [0, 1, 4, 16]
    with pytest.raises(OSError, match="disk full"):
        futures[3].result()


def test_submit_waits_while_pending_jobs_are_unfinished() -> None:
    release = threading.Event()
    writer = BackgroundWriter(pending=1)
    first = writer.submit(release.wait)
    second_submitted = threading.Event()

    def submit_second() -> None:
        writer.submit(lambda: "second")
        second_submitted.set()

    caller = threading.Thread(target=submit_second)
    caller.start()
    assert not second_submitted.wait(0.2)  # held back: the first job is still running
    assert list(writer.finished()) == []  # and nothing is finished yet
    release.set()
    caller.join(DEADLINE_S)
    assert second_submitted.is_set() and first.result() is True
    assert [f.result() for f in writer.finished(wait=True)][-1] == "second"
    writer.close()
    assert writer.waited > 0


def test_an_interrupted_writer_finishes_the_running_job_and_drops_the_queued_ones() -> None:
    release, done = threading.Event(), []
    writer = BackgroundWriter(pending=2)
    running = writer.submit(lambda: (release.wait(), done.append("running")))
    _until(running.running)
    queued = writer.submit(done.append, "queued")
    closer = threading.Thread(target=writer.close, kwargs={"cancel": True})
    closer.start()
    _until(queued.cancelled)
    release.set()
    closer.join(DEADLINE_S)
    assert done == ["running"] and running.done() and queued.cancelled()


def test_the_context_manager_cancels_on_an_error_only() -> None:
    done: list[int] = []
    with BackgroundWriter(pending=3) as writer:
        for k in range(3):
            writer.submit(done.append, k)
    assert done == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one"):
        BackgroundWriter(pending=0)
