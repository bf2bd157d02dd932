from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from config.management.demo import (
    LOG_DAYS,
    RIDERS,
    ROOMS,
    STAFF_USERNAME,
    TUNNEL_RIDE,
    TUNNEL_RIDER,
    demo_logs,
)
from riders.models import Rider
from rooms.models import Room, RoomParticipant
from telemetry.models import ConnectionLog, EventType
from telemetry.validation import clean_metrics

pytestmark = pytest.mark.django_db

ALLOWED_METRICS = {
    "rtt_ms",
    "jitter_ms",
    "packet_loss_pct",
    "bitrate_kbps",
    "signal_dbm",
    "signal_level",
    "battery_pct",
    "network_type",
}


DEMO_USERNAMES = [rider.username for rider in RIDERS]
DEMO_ROOM_NAMES = [room.name for room in ROOMS]


# The test database may hold other tests' committed rows: look only at the demo's.
def _demo_riders():
    return Rider.objects.filter(username__in=DEMO_USERNAMES)


def _demo_rooms():
    return Room.objects.filter(name__in=DEMO_ROOM_NAMES, creator__in=_demo_riders())


def _demo_logs():
    return ConnectionLog.objects.filter(client_event_id__startswith="demo-")


def _seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def _snapshot() -> dict:
    participations = RoomParticipant.objects.filter(room__in=_demo_rooms())
    return {
        "riders": _demo_riders().count(),
        "staff": _demo_riders().filter(is_staff=True).count(),
        "rooms": _demo_rooms().count(),
        "active rooms": _demo_rooms().filter(is_active=True).count(),
        "participations": participations.count(),
        "active participations": participations.filter(is_active=True).count(),
        "logs": _demo_logs().count(),
        "log ids": set(_demo_logs().values_list("user_id", "client_event_id")),
        "room codes": set(_demo_rooms().values_list("name", "code")),
    }


def test_second_run_changes_nothing():
    first_output = _seed()
    after_first = _snapshot()

    assert after_first["riders"] == len(RIDERS) == 24
    assert after_first["staff"] == 1
    assert after_first["rooms"] == len(ROOMS) == 7
    assert after_first["active rooms"] == 5
    assert after_first["participations"] == sum(1 + len(room.members) for room in ROOMS)
    assert 2000 <= after_first["logs"] <= 6500
    assert "Staff login: support / convoy-demo-ride" in first_output

    second_output = _seed()

    assert _snapshot() == after_first
    assert "already present    24" in second_output
    assert "created     0" in second_output
    assert f"already present {after_first['logs']:>5}" in second_output


def test_riders_can_log_in_with_the_demo_password():
    _seed(password="another-long-ride-42")

    staff = Rider.objects.get(username=STAFF_USERNAME)
    assert staff.is_staff
    assert not staff.is_superuser
    assert staff.check_password("another-long-ride-42")
    assert Rider.objects.get(username="alex.moto").check_password("another-long-ride-42")


def test_the_ended_ride_has_nobody_left_in_it():
    _seed()

    ended = _demo_rooms().filter(is_active=False).order_by("name")
    assert [room.name for room in ended] == ["Autumn Fog Run", TUNNEL_RIDE]
    for room in ended:
        assert room.deactivated_at is not None
        assert not room.participants.filter(is_active=True).exists()
    # Every rider is active in one open ride, the support account and the riders of the
    # scripted (ended) ride in none.
    story = {"paul.gt", TUNNEL_RIDER, "ria.adv"}
    for rider in _demo_riders().exclude(username=STAFF_USERNAME):
        expected = 0 if rider.username in story else 1
        assert rider.participations.filter(is_active=True).count() == expected


def test_every_rides_logs_fall_inside_its_time():
    _seed()
    for room in _demo_rooms():
        logs = _demo_logs().filter(room=room)
        assert not logs.filter(occurred_at__lt=room.created_at).exists(), room.name
        if room.deactivated_at is not None:
            assert not logs.filter(occurred_at__gt=room.deactivated_at).exists(), room.name


def test_the_scripted_tunnel_ride_tells_its_story():
    _seed()
    room = _demo_rooms().get(name=TUNNEL_RIDE)
    anna = _demo_logs().filter(room=room, user__username=TUNNEL_RIDER)
    day = (timezone.now() - timedelta(days=1)).replace(hour=14, minute=0, second=0, microsecond=0)
    change = anna.get(event_type=EventType.NETWORK_CHANGED, metrics__network_type="3g")
    drop = anna.get(event_type=EventType.RECONNECTING)
    back = anna.get(event_type=EventType.RECONNECTED)
    assert change.occurred_at == day + timedelta(minutes=2)
    assert back.occurred_at == day + timedelta(minutes=5, seconds=52)
    assert (back.occurred_at - drop.occurred_at).total_seconds() == 41
    # No report from the phone while it was in the tunnel.
    assert not anna.filter(
        event_type=EventType.QUALITY_REPORT,
        occurred_at__gt=drop.occurred_at,
        occurred_at__lt=back.occurred_at,
    ).exists()


def test_logs_are_realistic_and_valid():
    _seed()
    now = timezone.now()
    # The demo is anchored at today's midnight so that a rerun the same day adds nothing.
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    logs = list(_demo_logs())
    assert logs
    event_types = {log.event_type for log in logs}
    assert event_types <= set(EventType.values)
    assert {EventType.QUALITY_REPORT, EventType.JOINED, EventType.LEFT} <= event_types
    networks = {log.metrics.get("network_type") for log in logs} - {None}
    assert networks == {"wifi", "cellular", "4g", "5g", "3g"}  # 3g: the scripted tunnel ride
    for log in logs:
        assert set(log.metrics) <= ALLOWED_METRICS
        assert clean_metrics(log.metrics) == log.metrics
        assert midnight - timedelta(days=LOG_DAYS) <= log.occurred_at < now
        assert log.room_id is not None
    reports = [log.metrics for log in logs if log.event_type == EventType.QUALITY_REPORT]
    assert all(
        {"rtt_ms", "jitter_ms", "packet_loss_pct", "bitrate_kbps"} <= set(m) for m in reports
    )


def test_another_seed_adds_another_set_of_logs():
    _seed(seed=1)
    first = _demo_logs().count()

    output = _seed(seed=2)

    assert _demo_logs().count() > first
    assert _demo_riders().count() == len(RIDERS)
    assert "Demo data (seed 2)" in output


def test_a_weak_password_is_refused_and_nothing_is_written():
    with pytest.raises(CommandError, match="password"):
        _seed(password="123")

    assert not _demo_riders().exists()


@override_settings(SETTINGS_MODULE="config.settings.production")
def test_production_needs_an_explicit_flag():
    with pytest.raises(CommandError, match="--in-production"):
        _seed()

    assert not _demo_riders().exists()


def test_generated_logs_depend_only_on_the_seed():
    anchor = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)

    first = list(demo_logs(seed=7, anchor=anchor))
    again = list(demo_logs(seed=7, anchor=anchor))
    later = list(demo_logs(seed=7, anchor=anchor + timedelta(days=1)))
    other = list(demo_logs(seed=8, anchor=anchor))

    assert first == again
    assert [(log.username, log.client_event_id) for log in later] == [
        (log.username, log.client_event_id) for log in first
    ]
    assert [log.metrics for log in other] != [log.metrics for log in first]
