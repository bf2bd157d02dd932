"""Start many callables at the same instant on real threads, for the races the database and
Redis must settle."""

import threading
from collections.abc import Callable, Sequence

from django.db import connection

THREAD_TIMEOUT_SECONDS = 60


def race(work: Sequence[Callable[[], object]]) -> list[object]:
    """Run every callable in its own thread, all released at once; return results or errors.

    Each thread closes its database connection at the end, so pooled connections go back.
    """
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def run(index: int, task: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=THREAD_TIMEOUT_SECONDS)
            results[index] = task()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return results
