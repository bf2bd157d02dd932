"""The breaker a worker's threads share in front of PostgreSQL, on its own: when it refuses,
who gets the one trial, and what closes it again."""

import threading
import time

from config.postgresql.breaker import DatabaseBreaker


def test_a_closed_breaker_lets_everyone_through():
    breaker = DatabaseBreaker(open_seconds=1)

    assert [breaker.acquire() for _ in range(3)] == ["closed"] * 3
    assert breaker.state().state == "closed"
    assert not breaker.is_open()


def test_after_a_failure_everyone_is_refused_until_the_pause_is_over():
    breaker = DatabaseBreaker(open_seconds=0.3)
    breaker.failed("connection refused")

    assert breaker.acquire() is None
    assert breaker.is_open()
    state = breaker.state()
    assert (state.state, state.failures, state.failed_total, state.last_error) == (
        "open",
        1,
        1,
        "connection refused",
    )
    time.sleep(0.35)
    assert breaker.acquire() == "trial"
    # While the trial runs, nobody else tries.
    assert breaker.acquire() is None
    assert breaker.state().state == "half_open"


def test_a_failed_trial_opens_it_again_and_a_success_closes_it():
    breaker = DatabaseBreaker(open_seconds=0.1)
    breaker.failed("refused")
    time.sleep(0.15)
    assert breaker.acquire() == "trial"
    breaker.failed("refused again")
    assert breaker.acquire() is None
    assert breaker.state().failures == 2

    time.sleep(0.15)
    assert breaker.acquire() == "trial"
    breaker.succeeded()
    assert breaker.acquire() == "closed"
    # The running total is kept, for requests that compare it while they wait.
    assert breaker.state().failed_total == 2


def test_a_trial_that_ends_without_a_verdict_lets_the_next_one_try():
    breaker = DatabaseBreaker(open_seconds=0.1)
    breaker.failed("refused")
    time.sleep(0.15)
    assert breaker.acquire() == "trial"
    breaker.release_trial()
    assert breaker.acquire() == "trial"


def test_of_many_threads_after_the_pause_exactly_one_gets_the_trial():
    breaker = DatabaseBreaker(open_seconds=0.1)
    breaker.failed("refused")
    time.sleep(0.15)
    results: list[str | None] = []
    start = threading.Barrier(16)

    def ask():
        start.wait()
        results.append(breaker.acquire())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert results.count("trial") == 1
    assert results.count(None) == 15
