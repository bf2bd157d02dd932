"""Connection quality as a MOS (mean opinion score, 1 to 4.5) from rtt, jitter and loss.

A simplification of the ITU-T G.107 E-model, the one WebRTC monitoring servers use:

    delay   = rtt_ms / 2 + 2 * jitter_ms + 10            (one-way delay plus jitter buffer and codec)
    R       = 93.2 - delay / 40                          when delay < 160 ms
            = 93.2 - (delay - 120) / 10                  otherwise
    R       = R - 2.5 * packet_loss_pct, clamped to 0 .. 100
    MOS     = 1 + 0.035 R + 0.000007 R (R - 60) (100 - R)

A figure the event lacks counts as zero (a quality report carries at least one of them); an
event with none of rtt_ms, jitter_ms and packet_loss_pct has no score.

Ratings, by MOS (R in brackets, after ITU-T G.109's user-satisfaction bands):

=========  ===============  =========================================
rating     MOS              meaning for a ride
=========  ===============  =========================================
excellent  >= 4.0 (R >= 80) talk as if face to face
good       >= 3.6 (R >= 70) clear, the odd clipped word
poor       >= 2.6 (R >= 50) riders repeat themselves
lost       <  2.6           speech is not getting through
=========  ===============  =========================================

The same formula runs in PostgreSQL for statistics (:func:`mos_sql`); the tests hold both to
the same fixed inputs.
"""

from typing import Literal

Rating = Literal["excellent", "good", "poor", "lost"]
RATINGS: tuple[tuple[float, Rating], ...] = ((4.0, "excellent"), (3.6, "good"), (2.6, "poor"))


def r_factor(rtt_ms: float | None, jitter_ms: float | None, packet_loss_pct: float | None) -> float:
    delay = (rtt_ms or 0) / 2 + 2 * (jitter_ms or 0) + 10
    r = 93.2 - delay / 40 if delay < 160 else 93.2 - (delay - 120) / 10
    return min(100.0, max(0.0, r - 2.5 * (packet_loss_pct or 0)))


def mos(
    rtt_ms: float | None, jitter_ms: float | None, packet_loss_pct: float | None
) -> float | None:
    """The MOS of one set of figures, or None when all three are missing."""
    if rtt_ms is None and jitter_ms is None and packet_loss_pct is None:
        return None
    r = r_factor(rtt_ms, jitter_ms, packet_loss_pct)
    return 1 + 0.035 * r + 0.000007 * r * (r - 60) * (100 - r)


def rating(score: float | None) -> Rating | None:
    if score is None:
        return None
    for floor, name in RATINGS:
        if score >= floor:
            return name
    return "lost"


def metrics_mos(metrics: dict) -> float | None:
    """The MOS of an event's metrics (non-numbers are ignored, as validation never stores them)."""

    def number(key: str) -> float | None:
        value = metrics.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    return mos(number("rtt_ms"), number("jitter_ms"), number("packet_loss_pct"))


def mos_sql(rtt: str, jitter: str, loss: str) -> str:
    """SQL for the MOS of three float8 expressions (each evaluated more than once)."""
    delay = f"(coalesce({rtt}, 0) / 2 + 2 * coalesce({jitter}, 0) + 10)"
    raw_r = (
        f"(CASE WHEN {delay} < 160 THEN 93.2 - {delay} / 40 "
        f"ELSE 93.2 - ({delay} - 120) / 10 END - 2.5 * coalesce({loss}, 0))"
    )
    r = f"greatest(0.0, least(100.0, {raw_r}))"
    return (
        f"CASE WHEN {rtt} IS NULL AND {jitter} IS NULL AND {loss} IS NULL THEN NULL "
        f"ELSE 1 + 0.035 * {r} + 0.000007 * {r} * ({r} - 60) * (100 - {r}) END"
    )


def rating_sql(score: str) -> str:
    cases = " ".join(f"WHEN {score} >= {floor} THEN '{name}'" for floor, name in RATINGS)
    return f"CASE WHEN {score} IS NULL THEN NULL {cases} ELSE 'lost' END"
