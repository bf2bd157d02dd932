"""The staff API for operators' webhook endpoints: moderators register, resume and stop them,
support reads, riders are refused; bad input is a clear error and stores nothing; and,
against a live server, an endpoint registered over HTTP receives a ride's events."""

import httpx
import pytest
from rest_framework.test import APIClient

from riders.auth_tokens import token_issue
from riders.models import AuditAction, AuditEntry
from rooms.models import WebhookEndpoint
from rooms.services import participant_join, room_create
from tests.admin.conftest import make_staff
from tests.api.assertions import api_error
from tests.riders.factories import RiderFactory
from tests.webhook_receiver import delivery_worker, receiver_running

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"


@pytest.fixture(autouse=True)
def roles(db):
    from riders.roles import staff_roles_sync

    staff_roles_sync()


def client_of(kind: str) -> APIClient:
    member = RiderFactory() if kind == "rider" else make_staff(kind)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(rider=member).key}")
    return client


def register(client, **body):
    data = {"url": "http://127.0.0.1:9/hooks", "event_types": ["ride.ended"], **body}
    return client.post(WEBHOOKS, data, format="json")


def test_a_moderator_registers_an_endpoint_and_gets_its_secret_once():
    moderator = client_of("moderator")
    response = register(moderator, description="Club HQ")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["ride.ended"]
    assert body["paused"] is False
    again = moderator.get(f"{WEBHOOKS}{body['id']}/")
    assert again.status_code == 200
    assert "secret" not in again.json()
    assert [e["id"] for e in moderator.get(WEBHOOKS).json()["results"]] == [body["id"]]


@pytest.mark.parametrize("kind", ["rider", "support", "plain_staff"])
def test_only_moderators_register(kind):
    response = register(client_of(kind))
    api_error(response, 403, "forbidden")
    assert not WebhookEndpoint.objects.exists()


def test_support_reads_and_a_rider_reads_nothing():
    endpoint_id = register(client_of("moderator")).json()["id"]
    assert client_of("support").get(f"{WEBHOOKS}{endpoint_id}/").status_code == 200
    api_error(client_of("rider").get(WEBHOOKS), 403, "forbidden")
    api_error(client_of("support").delete(f"{WEBHOOKS}{endpoint_id}/"), 403, "forbidden")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "ftp://x.example.com/"}, 422, "url"),
        ({"url": "http://user:pw@127.0.0.1:9/"}, 422, "url"),
        ({"url": "x" * 2001}, 400, "url"),
        ({"url": 42}, 400, "url"),
        ({"event_types": []}, 400, "event_types"),
        ({"event_types": ["ride.exploded"]}, 400, "event_types"),
        ({"event_types": "ride.ended"}, 400, "event_types"),
        ({"description": "d" * 201}, 400, "description"),
        ({"secret": "whsec_mine"}, 400, "secret"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(body, status, field):
    response = register(client_of("moderator"), **body)
    assert response.status_code == status, response.content
    assert field in response.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_unknown_and_malformed_ids():
    moderator = client_of("moderator")
    api_error(
        moderator.get(f"{WEBHOOKS}00000000-0000-0000-0000-000000000000/"),
        404,
        "webhook_endpoint_not_found",
    )
    assert moderator.get(f"{WEBHOOKS}not-a-uuid/").status_code == 400


def test_resume_needs_a_paused_endpoint_and_stop_is_for_good():
    moderator = client_of("moderator")
    endpoint_id = register(moderator).json()["id"]
    api_error(
        moderator.post(f"{WEBHOOKS}{endpoint_id}/resume/"), 409, "webhook_endpoint_not_paused"
    )
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        paused_at="2026-12-01T10:00:00Z", pause_reason="Failing."
    )
    resumed = moderator.post(f"{WEBHOOKS}{endpoint_id}/resume/")
    assert resumed.status_code == 200
    assert resumed.json()["paused"] is False
    assert moderator.delete(f"{WEBHOOKS}{endpoint_id}/").status_code == 204
    assert moderator.delete(f"{WEBHOOKS}{endpoint_id}/").status_code == 204  # a repeat
    assert moderator.get(f"{WEBHOOKS}{endpoint_id}/").json()["is_active"] is False
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {AuditAction.WEBHOOK_RESUMED, AuditAction.WEBHOOK_DEACTIVATED} <= actions
    assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_DEACTIVATED).count() == 1


def test_deliveries_list_with_a_status_filter():
    moderator = client_of("moderator")
    endpoint_id = register(moderator, event_types=["ride.opened", "rider.joined"]).json()["id"]
    room_create(creator=RiderFactory(), name="Listed")
    listing = moderator.get(f"{WEBHOOKS}{endpoint_id}/deliveries/?status=pending").json()
    assert [d["type"] for d in listing["results"]] == ["rider.joined", "ride.opened"]
    assert (
        moderator.get(f"{WEBHOOKS}{endpoint_id}/deliveries/?status=delivered").json()["results"]
        == []
    )
    bad = moderator.get(f"{WEBHOOKS}{endpoint_id}/deliveries/?status=lost")
    assert bad.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_registered_over_http_receives_the_rides_events(live_server_url):
    moderator = make_staff("moderator")
    key = token_issue(rider=moderator).key
    with receiver_running() as receiver, httpx.Client(timeout=10) as http:
        created = http.post(
            f"{live_server_url}{WEBHOOKS}",
            json={"url": receiver.url, "event_types": ["ride.opened", "rider.joined"]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]
        room = room_create(creator=RiderFactory(), name="Over HTTP")
        participant_join(rider=RiderFactory(), code=room.code)
        with delivery_worker():
            got = receiver.wait_for(3, timeout=30)
    assert [r.payload["type"] for r in got] == ["ride.opened", "rider.joined", "rider.joined"]
    assert receiver.rejected == []
