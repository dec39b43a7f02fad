"""One background thread that writes results while the caller computes the next ones.

Encoding files (zlib, ffmpeg) and computing (torch) both run without the GIL, so a writer thread
takes the encoding off the critical path on a machine with a core to spare. The caller waits in
``submit`` while ``pending`` jobs are unfinished, so however many inputs there are, at most that
many results are held for writing besides the one being computed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for


class BackgroundWriter:
    """Runs submitted jobs one at a time, in submission order, on one thread; ``finished`` hands
    their futures back in that order. ``waited`` sums the seconds the caller spent waiting for the
    writer (the writing that did not overlap its work)."""

    def __init__(self, pending: int = 1, name: str = "blur2video-writer") -> None:
        if pending < 1:
            raise ValueError(f"pending {pending}: at least one job must be able to run")
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._slots = threading.Semaphore(pending)
        self._futures: deque[Future] = deque()
        self.waited = 0.0

    def submit(self, fn: Callable[..., object], *args: object, **kwargs: object) -> Future:
        """Queue ``fn(*args, **kwargs)``, first waiting while ``pending`` jobs are unfinished."""
        started = time.perf_counter()
        self._slots.acquire()
        self.waited += time.perf_counter() - started
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)
        return future

    def finished(self, wait: bool = False) -> Iterator[Future]:
        """The futures of the jobs finished so far, oldest first, each once; with ``wait``, every
        job's, waiting for those still running."""
        while self._futures and (wait or self._futures[0].done()):
            future = self._futures[0]
            if not future.done():
                started = time.perf_counter()
                wait_for([future])
                self.waited += time.perf_counter() - started
            yield self._futures.popleft()

    def idle(self) -> None:
        """Wait until every submitted job has finished (their futures stay for ``finished``)."""
        started = time.perf_counter()
        wait_for(list(self._futures))
        self.waited += time.perf_counter() - started

    def close(self, cancel: bool = False) -> None:
        """Stop the thread once its jobs are done; ``cancel`` drops the jobs not yet started (the
        one running finishes: a write in progress is never cut off)."""
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.close(cancel=kind is not None)
