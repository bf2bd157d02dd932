"""The per-socket machinery: the flood rule of MessageRateLimiter, on a clock the test moves."""

import pytest

from sessions_rt import sockets
from sessions_rt.sockets import CLOSE_AFTER_DROPPED, MessageRateLimiter


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(sockets.time, "monotonic", lambda: now[0])
    return now


def test_a_full_bucket_takes_a_burst_then_drops(clock):
    limiter = MessageRateLimiter(per_second=20, burst=60)
    assert [limiter.check() for _ in range(60)] == ["ok"] * 60
    assert limiter.check() == "drop"


def test_the_bucket_refills_at_the_rate_and_never_past_the_burst(clock):
    limiter = MessageRateLimiter(per_second=20, burst=60)
    for _ in range(60):
        limiter.check()
    clock[0] += 0.1  # two tokens
    assert [limiter.check() for _ in range(3)] == ["ok", "ok", "drop"]
    clock[0] += 3600
    assert [limiter.check() for _ in range(61)].count("ok") == 60


def test_the_socket_closes_at_the_50th_drop_in_a_row(clock):
    limiter = MessageRateLimiter(per_second=20, burst=1)
    limiter.check()
    verdicts = [limiter.check() for _ in range(CLOSE_AFTER_DROPPED)]
    assert verdicts == ["drop"] * (CLOSE_AFTER_DROPPED - 1) + ["close"]


def test_one_message_taken_starts_the_count_again(clock):
    limiter = MessageRateLimiter(per_second=20, burst=1)
    limiter.check()
    for _ in range(CLOSE_AFTER_DROPPED - 1):
        assert limiter.check() == "drop"
    clock[0] += 0.1  # the bucket is full again (one token): a message is taken
    assert limiter.check() == "ok"
    assert [limiter.check() for _ in range(CLOSE_AFTER_DROPPED - 1)] == ["drop"] * 49
    assert limiter.check() == "close"
