"""Ride alerts reach the phones in the ride's event sequence: through two real server
processes, every socket gets each alert event once, in seq order with the other ride events,
and a phone back from a tunnel catches up on them.

The test process plays the watcher: it raises, acknowledges and resolves alerts through
rooms.alerts, whose events its own live layer publishes, as any server's would."""

import asyncio
import contextlib
import io
import json
import time

import pytest
import websockets
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import connection

from bench.harness import running_server
from riders.auth_tokens import token_issue
from rooms.alerts import alert_acknowledge, alert_raise, alert_resolve, alerts_resolve_condition
from rooms.models import RideAlert
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.store import keys as store_keys
from sessions_rt.store.client import redis_client
from tests.ops.processes import server_environment
from tests.riders.factories import RiderFactory
from tests.sessions_rt.conftest import delete_keys

pytestmark = pytest.mark.django_db(transaction=True)

# The test settings' own prefix, which servers running them use whatever the environment says.
SERVERS_PREFIX = "convoy-test"
_rides: list[str] = []
POSITION = {"lat": 46.5, "lon": 8.1, "speed_kmh": 48.5, "heading_deg": 90.0, "at": None}


@pytest.fixture(scope="module")
def two_servers(django_db_setup, django_db_blocker):
    """Two single-worker servers on the test database, with this process's Redis keys and
    channel layer (the test settings), so what this process publishes reaches their sockets."""
    env = server_environment(DJANGO_SETTINGS_MODULE="config.settings.test")
    with (
        django_db_blocker.unblock(),
        running_server(workers=1, extra_env=env) as first,
        running_server(workers=1, extra_env=env) as second,
    ):
        yield first, second


@pytest.fixture(autouse=True)
def servers_done_before_the_flush(transactional_db):
    """The servers write a socket's connection log as it closes, after the test has moved
    on; the flush that empties the tables (TRUNCATE) racing that write deadlocks. So the test
    ends only once no other session of the test database is inside a statement or a
    transaction (10 s at most)."""
    yield
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.fixture(autouse=True)
def servers_prefix(isolated_prefix, settings, redis):
    """This process writes the live keys the servers read (after the per-test prefix); the
    keys of the rides a test opened go with it."""
    settings.CONVOY_KEY_PREFIX = SERVERS_PREFIX
    yield
    for room_id in _rides:
        delete_keys(redis, f"{store_keys.key_prefix()}:{store_keys.room_hash_tag(room_id)}:*")
    _rides.clear()


def _socket(base: str, code: str, key: str, query: str = ""):
    return websockets.connect(
        f"{base.replace('http', 'ws')}/ws/rooms/{code}/{query}",
        subprotocols=[PROTOCOL, f"bearer.{key}"],
        open_timeout=10,
    )


async def _receive(socket, wanted_type: str, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == wanted_type:
                return message


async def _frames_until_quiet(socket, quiet_seconds: float = 1.0) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), quiet_seconds)))
        except TimeoutError:
            return frames


def _ride():
    leader, lost, sweep = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Pass road")
    _rides.append(str(room.pk))
    participant_join(rider=lost, code=room.code)
    participant_join(rider=sweep, code=room.code)
    riders = (leader, lost, sweep)
    return room, riders, [token_issue(rider=rider).key for rider in riders]


def _raise(room, rider, kind="split", **values):
    arguments = {"position": POSITION, "trail": [], "details": {"metres_behind": 1450}} | values
    return alert_raise(room_id=room.pk, rider_id=rider.pk, kind=kind, **arguments)


async def test_an_alert_reaches_every_socket_on_both_servers_once_in_seq_order(two_servers):
    room, (leader, lost, sweep), tokens = await database_sync_to_async(_ride)()

    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for index, token in enumerate(tokens):
            base = two_servers[index % 2]
            socket = await stack.enter_async_context(_socket(base, room.code, token))
            await _receive(socket, "snapshot")
            sockets.append(socket)
        await asyncio.gather(*(_frames_until_quiet(socket) for socket in sockets))
        await sockets[0].send(json.dumps({"type": "set_sweep", "rider_id": str(sweep.pk)}))
        swept = await asyncio.gather(*(_receive(socket, "sweep_changed") for socket in sockets))
        alert, _ = await database_sync_to_async(_raise)(room, lost)
        await database_sync_to_async(_raise)(room, lost, details={"metres_behind": 2000})
        await database_sync_to_async(alert_acknowledge)(alert_id=alert.pk, room=room, by=sweep)
        await database_sync_to_async(alert_acknowledge)(alert_id=alert.pk, room=room, by=leader)
        await database_sync_to_async(alerts_resolve_condition)(
            room_id=room.pk, rider_id=lost.pk, kind="split", resolution="condition_cleared"
        )
        received = await asyncio.gather(*(_frames_until_quiet(socket) for socket in sockets))

    for sweep_changed, frames in zip(swept, received, strict=True):
        sequenced = [frame for frame in frames if "seq" in frame]
        assert [frame["type"] for frame in sequenced] == [
            "alert_raised",
            "alert_acknowledged",
            "alert_resolved",
        ]
        # In the ride's one sequence: right after the sweep_changed, none skipped.
        seqs = [frame["seq"] for frame in sequenced]
        assert seqs == [
            sweep_changed["seq"] + 1,
            sweep_changed["seq"] + 2,
            sweep_changed["seq"] + 3,
        ]
        raised, acknowledged, resolved = sequenced
        assert raised["rider_id"] == str(lost.pk)
        assert raised["payload"]["alert_id"] == str(alert.pk)
        assert raised["payload"]["kind"] == "split"
        assert raised["payload"]["position"] == POSITION
        assert raised["payload"]["details"] == {"metres_behind": 1450}
        assert raised["payload"]["alarm_first"] == [str(leader.pk), str(sweep.pk)]
        assert acknowledged["payload"]["by_id"] == str(sweep.pk)
        assert (resolved["payload"]["resolution"], resolved["payload"]["by_id"]) == (
            "condition_cleared",
            None,
        )


async def test_alarm_first_leaves_out_the_rider_in_trouble(two_servers):
    room, (leader, _, _), tokens = await database_sync_to_async(_ride)()

    async with _socket(two_servers[1], room.code, tokens[1]) as socket:
        await _receive(socket, "snapshot")
        await database_sync_to_async(_raise)(room, leader, kind="sos", position=None)
        raised = await _receive(socket, "alert_raised")

    assert raised["rider_id"] == str(leader.pk)
    assert raised["payload"]["alarm_first"] == []
    assert raised["payload"]["position"] is None


async def test_a_phone_back_from_a_tunnel_catches_up_on_the_alerts_it_missed(two_servers):
    room, (leader, lost, _), tokens = await database_sync_to_async(_ride)()
    first, second = two_servers

    async with _socket(first, room.code, tokens[0]) as leader_socket:
        await _receive(leader_socket, "snapshot")
        async with _socket(second, room.code, tokens[2]) as sweep_socket:
            snapshot = await _receive(sweep_socket, "snapshot")
        alert, _ = await database_sync_to_async(_raise)(room, lost, kind="stopped")
        await database_sync_to_async(alert_acknowledge)(alert_id=alert.pk, room=room, by=leader)
        query = f"?since_seq={snapshot['seq']}&session_id={snapshot['session_id']}"
        async with _socket(first, room.code, tokens[2], query) as back:
            caught_up = await _receive(back, "events")
        # A new phone with no seq gets a snapshot listing the alert as it stands.
        async with _socket(second, room.code, tokens[1]) as fresh:
            listed = await _receive(fresh, "snapshot")

    missed = [event for event in caught_up["events"] if event["type"].startswith("alert_")]
    assert [event["type"] for event in missed] == ["alert_raised", "alert_acknowledged"]
    assert {event["payload"]["alert_id"] for event in missed} == {str(alert.pk)}
    assert all(event["seq"] > snapshot["seq"] for event in caught_up["events"])
    assert [item["alert_id"] for item in listed["alerts"]] == [str(alert.pk)]
    assert listed["alerts"][0] | {"raised_at": None} == {
        "alert_id": str(alert.pk),
        "rider_id": str(lost.pk),
        "kind": "stopped",
        "status": "acknowledged",
        "raised_at": None,
        "position": POSITION,
        "details": {"metres_behind": 1450},
        "acknowledged_by_id": str(leader.pk),
        "acknowledged_at": listed["alerts"][0]["acknowledged_at"],
    }


async def test_a_snapshot_lists_open_alerts_first_and_leaves_out_resolved_ones(two_servers):
    room, (leader, lost, sweep), tokens = await database_sync_to_async(_ride)()
    old, _ = await database_sync_to_async(_raise)(room, lost, kind="stopped")
    await database_sync_to_async(alert_acknowledge)(alert_id=old.pk, room=room, by=leader)
    newest, _ = await database_sync_to_async(_raise)(room, sweep, kind="silent")
    done, _ = await database_sync_to_async(_raise)(room, leader, kind="sos")
    await database_sync_to_async(alert_resolve)(
        alert_id=done.pk, room=room, by=leader, resolution="false_alarm"
    )
    pending, _ = await database_sync_to_async(_raise)(room, lost, kind="sos", countdown_seconds=60)

    async with _socket(two_servers[0], room.code, tokens[0]) as socket:
        snapshot = await _receive(socket, "snapshot")

    assert [(item["alert_id"], item["status"]) for item in snapshot["alerts"]] == [
        (str(newest.pk), "open"),
        (str(old.pk), "acknowledged"),
    ]
    assert pending.status == "pending"


def test_an_alert_in_a_ride_nobody_is_connected_to_writes_nothing_live():
    room, (_, lost, _), _ = _ride()
    live = store_keys.room_keys(str(room.pk))

    _raise(room, lost)

    assert redis_client(None).exists(*live) == 0
    assert live.seq.startswith(SERVERS_PREFIX)


# --- SOS from the phone ---------------------------------------------------------------------


async def _quiet_after_snapshot(socket) -> None:
    await _receive(socket, "snapshot")
    await _frames_until_quiet(socket, quiet_seconds=0.5)


async def test_an_sos_alarms_the_ride_at_once_with_the_riders_last_position(two_servers):
    room, (leader, lost, _), tokens = await database_sync_to_async(_ride)()

    async with (
        _socket(two_servers[0], room.code, tokens[0]) as leader_socket,
        _socket(two_servers[1], room.code, tokens[1]) as lost_socket,
    ):
        await _quiet_after_snapshot(leader_socket)
        await _quiet_after_snapshot(lost_socket)
        await lost_socket.send(
            json.dumps({"type": "location", "lat": 46.6, "lon": 8.2, "speed_kmh": 0})
        )
        await _receive(leader_socket, "location")
        for ref in range(20):  # a flood of presses is one alert
            await lost_socket.send(json.dumps({"type": "sos", "ref": ref}))
        acks = [await _receive(lost_socket, "sos_ack") for _ in range(20)]
        heard = await _frames_until_quiet(leader_socket)

    assert [ack["ref"] for ack in acks] == list(range(20))
    assert {(ack["alert_id"], ack["status"], ack["due_at"]) for ack in acks} == {
        (acks[0]["alert_id"], "open", None)
    }
    raised = [frame for frame in heard if frame["type"] == "alert_raised"]
    assert len(raised) == 1
    assert raised[0]["rider_id"] == str(lost.pk)
    assert raised[0]["payload"]["kind"] == "sos"
    assert raised[0]["payload"]["alarm_first"] == [str(leader.pk)]
    position = raised[0]["payload"]["position"]
    assert (position["lat"], position["lon"], position["speed_kmh"]) == (46.6, 8.2, 0)
    assert position["at"] is not None
    assert await database_sync_to_async(RideAlert.objects.filter(room=room).count)() == 1


async def test_an_sos_cancelled_during_its_countdown_never_reaches_the_ride(two_servers):
    room, (_, lost, _), tokens = await database_sync_to_async(_ride)()

    async with (
        _socket(two_servers[0], room.code, tokens[0]) as leader_socket,
        _socket(two_servers[1], room.code, tokens[1]) as lost_socket,
    ):
        await _quiet_after_snapshot(leader_socket)
        await _quiet_after_snapshot(lost_socket)
        await lost_socket.send(json.dumps({"type": "sos", "countdown_seconds": 30, "ref": "a"}))
        pending = await _receive(lost_socket, "sos_ack")
        await lost_socket.send(json.dumps({"type": "sos_cancel", "ref": "b"}))
        cancelled = await _receive(lost_socket, "sos_ack")
        await lost_socket.send(json.dumps({"type": "sos_cancel", "ref": "c"}))
        nothing_left = await _receive(lost_socket, "error")
        heard = await _frames_until_quiet(leader_socket)

    assert (pending["status"], pending["ref"]) == ("pending", "a")
    assert pending["due_at"] is not None
    assert (cancelled["alert_id"], cancelled["status"]) == (pending["alert_id"], "resolved")
    assert (nothing_left["code"], nothing_left["ref"]) == ("no_sos", "c")
    assert not [frame for frame in heard if frame["type"].startswith("alert_")]
    stored = await database_sync_to_async(RideAlert.objects.get)(room=room)
    assert (stored.resolution, stored.resolved_by_id) == ("false_alarm", lost.pk)


async def test_a_countdown_outlives_the_socket_and_the_command_raises_it(two_servers):
    room, (_, lost, _), tokens = await database_sync_to_async(_ride)()

    async with _socket(two_servers[0], room.code, tokens[0]) as leader_socket:
        await _quiet_after_snapshot(leader_socket)
        async with _socket(two_servers[1], room.code, tokens[1]) as lost_socket:
            await _receive(lost_socket, "snapshot")
            await lost_socket.send(json.dumps({"type": "sos", "countdown_seconds": 1}))
            ack = await _receive(lost_socket, "sos_ack")
        await asyncio.sleep(1.2)
        output = io.StringIO()
        await database_sync_to_async(call_command)("raise_due_alerts", stdout=output)
        raised = await _receive(leader_socket, "alert_raised")

    assert "1 SOS countdowns ended and raised" in output.getvalue()
    assert (raised["payload"]["alert_id"], raised["rider_id"]) == (ack["alert_id"], str(lost.pk))
    assert raised["payload"]["opened_at"] > raised["payload"]["raised_at"]


@pytest.mark.parametrize(
    "countdown",
    [121, -1, "5", 2.5, True, None],
    ids=["long", "neg", "text", "float", "bool", "null"],
)
async def test_a_bad_countdown_is_refused_and_records_nothing(two_servers, countdown):
    room, _, tokens = await database_sync_to_async(_ride)()

    async with _socket(two_servers[0], room.code, tokens[1]) as socket:
        await _quiet_after_snapshot(socket)
        await socket.send(json.dumps({"type": "sos", "countdown_seconds": countdown}))
        refused = await _receive(socket, "error")

    assert (refused["code"], list(refused["fields"])) == (
        "invalid_realtime_data",
        ["countdown_seconds"],
    )
    assert not await database_sync_to_async(RideAlert.objects.filter(room=room).exists)()
