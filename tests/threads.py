"""The one thread runner of the concurrency tests: each thread runs on its own PostgreSQL connection (closed when
it ends), all released at once by a barrier unless `together=False`; what they raise is collected for the test
to assert on, and a thread still running after `timeout` fails the test (a deadlock, a lost wake-up).

    errors = run_threads(8, work)                      # work(n) in 8 threads; what they raised
    threads, errors = start_threads(4, work)           # start only: the test works alongside, then joins
    results = run_calls([f, g, h])                     # each call's result, or the exception it raised
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from django.db import connection

BARRIER_TIMEOUT = 30  # seconds a thread waits for the others to reach the start line


def start_threads(workers: int, target: Callable[[int], object], *, together: bool = True,
                  name: str = "test-thread") -> tuple[list[threading.Thread], list[BaseException]]:
    """Start `target(n)` for n in range(workers), in threads named `{name}-{n}`."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def wrapped(n: int) -> None:
        try:
            if together:
                barrier.wait(timeout=BARRIER_TIMEOUT)
            target(n)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(n,), name=f"{name}-{n}") for n in range(workers)]
    for t in threads:
        t.start()
    return threads, errors


def join(threads: Sequence[threading.Thread], timeout: float = 300) -> None:
    """Wait for the threads; fails the test when one is still running after `timeout` seconds (in all)."""
    for t in threads:
        t.join(timeout=timeout)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still running after {timeout} s (a deadlock?): {stuck}"


def run_threads(workers: int, target: Callable[[int], object], timeout: float = 300, *, together: bool = True,
                name: str = "test-thread") -> list[BaseException]:
    threads, errors = start_threads(workers, target, together=together, name=name)
    join(threads, timeout)
    return errors


def run_calls(calls: Sequence[Callable[[], object]], *, together: bool = True, timeout: float = 300) -> list:
    """Run each zero-argument call in its own thread; their results in the calls' order, an exception a call
    raised standing in for its result (for the test to look at)."""
    results: list = [None] * len(calls)

    def target(n: int) -> None:
        try:
            results[n] = calls[n]()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[n] = exc

    errors = run_threads(len(calls), target, timeout, together=together)
    assert not errors, errors  # only a BaseException (KeyboardInterrupt, ...) gets here
    return results
