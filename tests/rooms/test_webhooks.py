"""Webhooks for operators: the outbox written with the change, signed deliveries to a real
receiver on loopback by the worker operators run, in order per ride, retried, bounded."""

import json
import signal
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from riders.models import AuditAction, AuditEntry
from rooms import webhooks
from rooms.errors import InvalidWebhookEndpoint, RoomFull
from rooms.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rooms.outbox import EVENT_TYPES, drain_lock
from rooms.services import (
    participant_join,
    participant_leave,
    participant_remove,
    room_create,
    room_deactivate,
)
from tests.riders.factories import RiderFactory
from tests.webhook_receiver import delivery_worker, receiver_running

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_jobs_of_other_tests(db):
    """The job queue's tables are not the models' a transactional test empties: jobs other
    tests left would be run, or counted, here."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")


def endpoint_for(receiver, staff, event_types=EVENT_TYPES) -> WebhookEndpoint:
    endpoint = webhooks.webhook_endpoint_create(
        url=receiver.url, event_types=list(event_types), actor=staff
    )
    receiver.secret = endpoint.secret
    return endpoint


# --- Registering endpoints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "http or https"),
        ("https://user:pw@hooks.example.com/x", "no user name or password"),
        ("https:///nohost", "needs a host"),
        ("https://hooks.example.com:99999/x", "not a URL"),
        ("", "Give the receiver"),
        (42, "Give the receiver"),
        ("https://h.example.com/" + "a" * 2000, "at most 2000"),
    ],
)
def test_a_malformed_url_is_refused_and_nothing_is_stored(staff, url, message):
    with pytest.raises(InvalidWebhookEndpoint, match=message) as raised:
        webhooks.webhook_endpoint_create(url=url, event_types=["ride.ended"], actor=staff)
    assert raised.value.status == 422
    assert raised.value.fields == {"url": [raised.value.message]}
    assert not WebhookEndpoint.objects.exists()


@override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
    ],
)
def test_in_production_internal_addresses_are_refused(staff, url):
    with pytest.raises(InvalidWebhookEndpoint, match=r"internal address|not resolve"):
        webhooks.webhook_endpoint_create(url=url, event_types=["ride.ended"], actor=staff)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("event_types", [[], ["ride.exploded"], "ride.ended", None])
def test_event_types_must_be_known(staff, event_types):
    with pytest.raises(InvalidWebhookEndpoint) as raised:
        webhooks.webhook_endpoint_create(
            url="http://127.0.0.1:9/x", event_types=event_types, actor=staff
        )
    assert "event_types" in raised.value.fields
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_gets_a_secret_of_its_own_and_its_registration_is_audited(staff):
    first = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/a", event_types=["ride.ended", "ride.ended"], actor=staff
    )
    second = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/b", event_types=["rider.joined"], actor=staff
    )
    assert first.secret.startswith("whsec_")
    assert first.secret != second.secret
    assert first.event_types == ["ride.ended"]
    Webhook(first.secret)  # the reference library takes it as it is
    entry = AuditEntry.objects.get(target_id=str(first.pk))
    assert entry.action == AuditAction.WEBHOOK_CREATED
    assert entry.actor == staff


# --- The outbox ---------------------------------------------------------------------------


def test_every_ride_change_is_in_the_outbox_with_one_delivery_per_endpoint_wanting_it(staff):
    wants_all = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/all", event_types=list(EVENT_TYPES), actor=staff
    )
    wants_end = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/end", event_types=["ride.ended"], actor=staff
    )
    leader, rider, other = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Sunday ride")
    participant_join(rider=rider, code=room.code)
    participant_join(rider=other, code=room.code)
    participant_leave(rider=rider, code=room.code)
    participant_remove(room=room, rider=other, actor=leader)
    room_deactivate(room=room, actor=leader)

    events = list(OutboxEvent.objects.filter(room=room).order_by("id"))
    assert [(e.type, e.payload["data"].get("rider", {}).get("id")) for e in events] == [
        ("ride.opened", None),
        ("rider.joined", str(leader.pk)),
        ("rider.joined", str(rider.pk)),
        ("rider.joined", str(other.pk)),
        ("rider.left", str(rider.pk)),
        ("rider.removed", str(other.pk)),
        ("ride.ended", None),
    ]
    assert events[-1].payload["data"]["ride"]["code"] == room.code
    assert all(e.payload["type"] == e.type for e in events)
    assert WebhookDelivery.objects.filter(endpoint=wants_all).count() == 7
    assert list(
        WebhookDelivery.objects.filter(endpoint=wants_end).values_list("event__type", flat=True)
    ) == ["ride.ended"]


def test_a_change_that_rolls_back_leaves_nothing_in_the_outbox(staff):
    webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/all", event_types=list(EVENT_TYPES), actor=staff
    )
    room = room_create(creator=RiderFactory(), name="Full ride", max_participants=2)
    participant_join(rider=RiderFactory(), code=room.code)
    before = OutboxEvent.objects.count(), WebhookDelivery.objects.count()
    with pytest.raises(RoomFull):
        participant_join(rider=RiderFactory(), code=room.code)
    assert (OutboxEvent.objects.count(), WebhookDelivery.objects.count()) == before
    other_code = room_create(creator=RiderFactory(), name="x").code
    before = OutboxEvent.objects.count(), WebhookDelivery.objects.count()
    with pytest.raises(RuntimeError, match="after the join"):
        _join_then_fail(other_code)
    assert (OutboxEvent.objects.count(), WebhookDelivery.objects.count()) == before


def _join_then_fail(code: str) -> None:
    with transaction.atomic():
        participant_join(rider=RiderFactory(), code=code)
        raise RuntimeError("the request failed after the join")


def test_a_paused_or_inactive_endpoint_gets_no_new_deliveries(staff):
    endpoint = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/x", event_types=["ride.opened"], actor=staff
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    room_create(creator=RiderFactory(), name="Quiet ride")
    assert not WebhookDelivery.objects.exists()


def test_retries_back_off_exponentially_with_jitter():
    delays = [[webhooks.retry_delay_seconds(n) for _ in range(200)] for n in (1, 2, 3, 12, 40)]
    for attempts, drawn in zip((1, 2, 3), delays, strict=False):
        ceiling = 5 * 2 ** (attempts - 1)
        assert min(drawn) >= ceiling / 2
        assert max(drawn) <= ceiling
        assert len(set(drawn)) > 100  # spread, not one instant for every endpoint
    assert max(delays[3]) <= 3600
    assert max(delays[4]) <= 3600


# --- Delivering, to a real receiver through the worker operators run -------------------------


@pytest.mark.django_db(transaction=True)
def test_deliveries_arrive_signed_once_per_event_and_in_order_per_ride(staff):
    with receiver_running() as receiver:
        endpoint_for(receiver, staff)
        leader = RiderFactory()
        room = room_create(creator=leader, name="Sunday ride")
        riders = [RiderFactory() for _ in range(4)]
        for rider in riders:
            participant_join(rider=rider, code=room.code)
        for rider in riders[:2]:
            participant_leave(rider=rider, code=room.code)
        room_deactivate(room=room, actor=leader)
        with delivery_worker():
            got = receiver.wait_for(9)
            time.sleep(1)  # nothing more is coming
        assert receiver.rejected == []
        expected = list(
            OutboxEvent.objects.filter(room=room).order_by("id").values_list("event_id", flat=True)
        )
        assert [r.webhook_id for r in receiver.received] == [str(e) for e in expected]
        assert [r.payload["type"] for r in got][:2] == ["ride.opened", "rider.joined"]
        assert got[-1].payload["type"] == "ride.ended"
        assert WebhookDelivery.objects.filter(status="delivered").count() == 9
        assert set(WebhookAttempt.objects.values_list("outcome", flat=True)) == {"delivered"}


@pytest.mark.django_db(transaction=True)
def test_a_receiver_down_then_back_gets_everything_in_order_each_id_once(staff):
    with receiver_running() as receiver:
        port = receiver.port
        endpoint_for(receiver, staff)
        receiver.stop()  # down: the port refuses connections
        leader = RiderFactory()
        room = room_create(creator=leader, name="Tunnel ride")
        for _ in range(3):
            participant_join(rider=RiderFactory(), code=room.code)
        with delivery_worker():
            deadline = time.monotonic() + 20
            while not WebhookAttempt.objects.filter(outcome="connection_error").exists():
                assert time.monotonic() < deadline, "the worker never tried"
                time.sleep(0.1)
            time.sleep(1)
            # Order holds: nothing behind the failing head was attempted.
            assert WebhookAttempt.objects.values("delivery").distinct().count() == 1
            receiver.start(port=port)
            room_deactivate(room=room, actor=leader)
            got = receiver.wait_for(6, timeout=40)
            time.sleep(1)
        ids = [r.webhook_id for r in receiver.received]
        assert len(ids) == len(set(ids)) == 6
        expected = OutboxEvent.objects.filter(room=room).order_by("id")
        assert ids == [str(e.event_id) for e in expected]
        assert got[-1].payload["type"] == "ride.ended"
        assert WebhookEndpoint.objects.get().failing_since is None


@pytest.mark.django_db(transaction=True)
def test_a_slow_receiver_does_not_hold_up_another(staff):
    with receiver_running(delay_seconds=4) as slow, receiver_running() as quick:
        endpoint_for(slow, staff)
        endpoint_for(quick, staff)
        room = room_create(creator=RiderFactory(), name="Two operators")
        started = time.monotonic()
        with delivery_worker():
            quick.wait_for(2, timeout=20)
            quick_took = time.monotonic() - started
            slow.wait_for(2, timeout=30)
        print(f"quick receiver served in {quick_took:.1f} s beside a 4 s receiver")
        assert [r.payload["type"] for r in quick.received] == ["ride.opened", "rider.joined"]
        assert room.code == quick.received[0].payload["data"]["ride"]["code"]


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_leaves_the_attempt_to_be_made_again(staff):
    arrived = threading.Event()
    with receiver_running() as receiver:

        def hang(handler):
            arrived.set()
            time.sleep(30)

        receiver.answer = hang
        endpoint_for(receiver, staff, event_types=["ride.opened"])
        room_create(creator=RiderFactory(), name="Killed worker")
        with delivery_worker() as worker:
            assert arrived.wait(20), "the delivery never reached the receiver"
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        assert not WebhookDelivery.objects.filter(status="delivered").exists()
        receiver.answer = None
        # A new worker (with a short heartbeat horizon) finds the job stalled and runs it.
        with delivery_worker(DELIVERY_STALLED_JOB_SECONDS="15"):
            got = receiver.wait_for(1, timeout=60)
        assert got[0].payload["type"] == "ride.opened"
        assert WebhookDelivery.objects.get().status == "delivered"


@pytest.mark.django_db(transaction=True)
@override_settings(WEBHOOK_TIMEOUT_SECONDS=2)
def test_a_malicious_receiver_is_bounded(staff):
    def endless(handler):
        handler.send_response(200)
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b"x" * 65536)
                handler.wfile.flush()
        except OSError:
            pass

    def redirect(handler):
        handler.send_response(307)
        handler.send_header("location", "http://169.254.169.254/latest/meta-data")
        handler.send_header("content-length", "0")
        handler.end_headers()

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("content-length", "100000")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass

    outcomes = {}
    for name, answer in (("endless", endless), ("redirect", redirect), ("trickle", trickle)):
        with receiver_running() as receiver:
            receiver.answer = answer
            endpoint = endpoint_for(receiver, staff, event_types=["ride.opened"])
            room = room_create(creator=RiderFactory(), name=f"Ride {name}")
            event = OutboxEvent.objects.get(room=room, type="ride.opened")
            started = time.monotonic()
            outcome = webhooks.webhook_post(endpoint=endpoint, event=event)
            outcomes[name] = (outcome.outcome, time.monotonic() - started)
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    print({name: f"{o} in {t:.1f} s" for name, (o, t) in outcomes.items()})
    assert outcomes["endless"][0] == "response_too_large"
    assert outcomes["redirect"][0] == "redirect_refused"
    assert outcomes["trickle"][0] == "timeout"
    assert all(seconds < 4 for _, seconds in outcomes.values())


@pytest.mark.django_db(transaction=True)
@override_settings(WEBHOOK_RETRY_FOR_SECONDS=60)
def test_an_endpoint_failing_too_long_is_paused_then_resumed_by_staff(staff):
    with receiver_running(status=500, body=b"boom") as receiver:
        endpoint = endpoint_for(receiver, staff, event_types=["ride.opened", "rider.joined"])
        room = room_create(creator=RiderFactory(), name="Failing receiver")
        # It has been failing for longer than the limit when this attempt fails too.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since="2026-01-01T00:00:00Z")
        endpoint.refresh_from_db()
        delivered = webhooks.webhook_drain(endpoint_id=endpoint.pk, room_id=room.pk)
        endpoint.refresh_from_db()
        assert delivered == 0
        assert endpoint.is_paused
        assert "http_error 500" in endpoint.pause_reason
        attempt = WebhookAttempt.objects.get()
        assert (attempt.status_code, attempt.response_excerpt) == (500, "boom")
        # Paused: a drain sends nothing, new events queue as pending.
        assert webhooks.webhook_drain(endpoint_id=endpoint.pk, room_id=room.pk) == 0
        assert WebhookAttempt.objects.count() == 1

        receiver.status = 200
        assert webhooks.webhook_endpoint_resume(endpoint=endpoint, actor=staff) == 1
        endpoint.refresh_from_db()
        assert not endpoint.is_paused
        assert endpoint.failing_since is None
        assert webhooks.webhook_drain(endpoint_id=endpoint.pk, room_id=room.pk) == 2
        assert [r.payload["type"] for r in receiver.received] == ["ride.opened", "rider.joined"]
        assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_RESUMED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_redeliver_sends_the_same_event_id_again(staff):
    with receiver_running() as receiver:
        endpoint = endpoint_for(receiver, staff, event_types=["ride.opened"])
        room = room_create(creator=RiderFactory(), name="Again")
        webhooks.webhook_drain(endpoint_id=endpoint.pk, room_id=room.pk)
        delivery = WebhookDelivery.objects.get()
        webhooks.webhook_redeliver(delivery=delivery, actor=staff)
        assert webhooks.webhook_drain(endpoint_id=endpoint.pk, room_id=room.pk) == 1
        first, second = receiver.received
        assert first.webhook_id == second.webhook_id
        assert json.dumps(first.payload, sort_keys=True) == json.dumps(
            second.payload, sort_keys=True
        )
        assert WebhookDelivery.objects.get().attempts == 2


def test_a_drain_of_an_unknown_endpoint_does_nothing():
    assert webhooks.webhook_drain(endpoint_id=uuid.uuid4(), room_id=uuid.uuid4()) == 0


def _jobs() -> list[tuple[str, str, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name, lock, queueing_lock FROM procrastinate_jobs ORDER BY id")
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_defers_a_job_per_endpoint_and_one_waits_per_ride(staff):
    endpoint = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/x", event_types=["rider.joined", "rider.left"], actor=staff
    )
    room = room_create(creator=RiderFactory(), name="Jobs")
    job = (
        "rooms.deliver_webhooks",
        drain_lock(endpoint.pk, room.pk),
        f"drain:{endpoint.pk}:{room.pk}",
    )
    assert _jobs() == [job]
    with pytest.raises(RuntimeError, match="after the join"):
        _join_then_fail(room.code)
    rider = RiderFactory()
    participant_join(rider=rider, code=room.code)
    # The leave is one statement in autocommit: its event and delivery, then its job.
    participant_leave(rider=rider, code=room.code)
    # One job waits for the ride, and drains all three events when it runs.
    assert _jobs() == [job]
    assert WebhookDelivery.objects.filter(endpoint=endpoint, room=room).count() == 3
    left = OutboxEvent.objects.get(type="rider.left")
    assert left.payload["data"]["ride"] == {"id": str(room.pk), "code": room.code}
    other = room_create(creator=RiderFactory(), name="Another ride")
    assert len(_jobs()) == 2
    assert _jobs()[1][2] == f"drain:{endpoint.pk}:{other.pk}"


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_job_was_lost_is_started_by_the_sweep(staff):
    endpoint = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/x", event_types=["ride.opened"], actor=staff
    )
    room = room_create(creator=RiderFactory(), name="Lost job")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
    assert webhooks.webhook_start_forgotten() == 0  # too fresh to call lost
    later = timezone.now() + timedelta(seconds=webhooks.FORGOTTEN_AFTER_SECONDS + 1)
    assert webhooks.webhook_start_forgotten(now=later) == 1
    assert [job[1] for job in _jobs()] == [drain_lock(endpoint.pk, room.pk)]
    # A delivery waiting for its scheduled retry is not lost.
    WebhookDelivery.objects.update(next_attempt_at=later + timedelta(minutes=5))
    assert webhooks.webhook_start_forgotten(now=later) == 0


@override_settings(OUTBOX_RETENTION_DAYS=7)
def test_delivered_events_are_forgotten_after_the_retention_and_waiting_ones_kept(staff):
    webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/x", event_types=["ride.opened"], actor=staff
    )
    room = room_create(creator=RiderFactory(), name="Old ride")  # ride.opened (waiting), joined
    later = timezone.now() + timedelta(days=8)
    assert webhooks.webhook_outbox_prune(now=later) == 1  # rider.joined: nobody wanted it
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == ["ride.opened"]
    WebhookDelivery.objects.update(status="delivered")
    assert webhooks.webhook_outbox_prune(now=timezone.now()) == 0  # not old enough
    assert webhooks.webhook_outbox_prune(now=later) == 1
    assert not OutboxEvent.objects.filter(room=room).exists()
    assert not WebhookDelivery.objects.exists()
