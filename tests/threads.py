"""Threads for the concurrency tests: each runs `target(n)` on its own PostgreSQL connection (closed when it
ends), all released at once by a barrier; what they raise is collected for the test to assert on.

    errors = run_threads(8, work)                      # start, wait for all, return what they raised
    threads, errors = start_threads(4, work)           # start only: the test works alongside, then joins
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def start_threads(workers: int, target: Callable[[int], object]) -> tuple[list[threading.Thread], list[BaseException]]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def wrapped(n: int) -> None:
        try:
            barrier.wait()
            target(n)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    return threads, errors


def run_threads(workers: int, target: Callable[[int], object], timeout: float = 300) -> list[BaseException]:
    threads, errors = start_threads(workers, target)
    for t in threads:
        t.join(timeout=timeout)
    return errors
