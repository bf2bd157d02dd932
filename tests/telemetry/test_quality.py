import pytest
from django.db import connection

from telemetry.quality import metrics_mos, mos, mos_sql, r_factor, rating, rating_sql

# (rtt_ms, jitter_ms, packet_loss_pct) -> R, MOS, worked out by hand from the formula in
# telemetry.quality:
#   delay = rtt/2 + 2*jitter + 10;  R = 93.2 - delay/40 (delay < 160) or 93.2 - (delay-120)/10
#   R -= 2.5 * loss;  MOS = 1 + 0.035 R + 0.000007 R (R - 60) (100 - R)
FIXED = [
    # A perfect line: delay 10, R = 92.95; 1 + 3.25325 + 0.000007 * 92.95 * 32.95 * 7.05
    ((0, 0, 0), 92.95, 4.404394368375),
    # A good 4G ride: delay 40 + 10 + 10 = 60, R = 91.7 - 2.5 = 89.2
    ((80, 5, 1), 89.2, 4.318910784),
    # Long delay: 300 + 40 + 10 = 350 >= 160, so R = 93.2 - 23 - 5 = 65.2
    ((600, 20, 2), 65.2, 3.364590144),
    # Heavy loss: delay 60, R = 91.7 - 50 = 41.7 (the cubic term turns negative below R 60)
    ((100, 0, 20), 41.7, 2.148074809),
    # Nothing gets through: R below zero is clamped to 0, MOS 1
    ((2000, 500, 100), 0.0, 1.0),
]


@pytest.mark.parametrize(("figures", "r", "score"), FIXED)
def test_mos_of_fixed_inputs(figures, r, score):
    assert r_factor(*figures) == pytest.approx(r, abs=1e-9)
    assert mos(*figures) == pytest.approx(score, abs=1e-9)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (4.5, "excellent"),
        (4.0, "excellent"),
        (3.99, "good"),
        (3.6, "good"),
        (3.59, "poor"),
        (2.6, "poor"),
        (2.59, "lost"),
        (1.0, "lost"),
        (None, None),
    ],
)
def test_rating_thresholds(score, expected):
    assert rating(score) == expected


def test_missing_figures_count_as_zero_and_none_at_all_has_no_score():
    assert mos(None, None, None) is None
    assert mos(80, None, None) == pytest.approx(mos(80, 0, 0))
    assert metrics_mos({"network_type": "4g"}) is None
    assert metrics_mos({"rtt_ms": 80, "jitter_ms": 5, "packet_loss_pct": 1}) == pytest.approx(
        4.318910784, abs=1e-9
    )


@pytest.mark.django_db
def test_the_sql_formula_gives_the_python_figures():
    inputs = [figures for figures, _, _ in FIXED] + [(80, None, None), (None, None, None)]
    with connection.cursor() as cursor:
        for rtt, jitter, loss in inputs:
            score_sql = mos_sql("%(rtt)s::float8", "%(jitter)s::float8", "%(loss)s::float8")
            cursor.execute(
                f"SELECT {score_sql}, {rating_sql('(' + score_sql + ')')}",
                {"rtt": rtt, "jitter": jitter, "loss": loss},
            )
            score, name = cursor.fetchone()
            expected = mos(rtt, jitter, loss)
            if expected is None:
                assert (score, name) == (None, None)
            else:
                assert score == pytest.approx(expected, abs=1e-9)
                assert name == rating(expected)
