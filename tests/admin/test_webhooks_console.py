"""The console's webhook pages, as staff use them: a moderator registers a receiver and sees
its secret once; support sees but cannot register; a paused endpoint is announced and
resumed; every attempt of a delivery is shown, and a delivery can be sent again."""

import pytest
from django.urls import reverse

from riders.models import AuditAction, AuditEntry
from rooms import webhooks
from rooms.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rooms.services import room_deactivate
from tests.admin.conftest import REASON
from tests.webhook_receiver import receiver_running

pytestmark = pytest.mark.django_db

ADD = reverse("admin:rooms_webhookendpoint_add")
LIST = reverse("admin:rooms_webhookendpoint_changelist")


def test_a_moderator_registers_an_endpoint_and_sees_its_secret_once(staff_client):
    client, moderator = staff_client("moderator")
    response = client.post(
        ADD,
        {"url": "http://127.0.0.1:9/hooks", "description": "Club", "event_types": ["ride.ended"]},
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["ride.ended"]
    assert endpoint.created_by == moderator
    assert endpoint.secret in response.content.decode()
    # Shown once: the endpoint's own page never shows it again.
    page = client.get(reverse("admin:rooms_webhookendpoint_change", args=[endpoint.pk]))
    assert endpoint.secret not in page.content.decode()
    assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_CREATED).count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "ftp://x.example.com/", "event_types": ["ride.ended"]}, "http or https"),
        ({"url": "http://u:p@127.0.0.1:9/", "event_types": ["ride.ended"]}, "user name"),
        ({"url": "http://127.0.0.1:9/", "event_types": ["ride.exploded"]}, "valid choice"),
        ({"url": "http://127.0.0.1:9/"}, "This field is required"),
    ],
)
def test_a_bad_endpoint_is_refused_with_a_reason_and_nothing_is_stored(staff_client, data, field):
    client, _ = staff_client("moderator")
    response = client.post(ADD, data, follow=True)
    assert response.status_code == 200
    assert field in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_support_sees_endpoints_but_cannot_register_or_resume(staff_client, staff):
    endpoint = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/x", event_types=["ride.ended"], actor=staff
    )
    client, _ = staff_client("support")
    assert client.get(LIST).status_code == 200
    assert client.get(ADD).status_code == 403
    resume = reverse("admin:rooms_webhookendpoint_resume", args=[endpoint.pk])
    assert client.post(resume).status_code == 403


def test_a_paused_endpoint_is_announced_and_a_moderator_resumes_it(staff_client, staff, ride):
    endpoint = webhooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/x", event_types=["rider.joined"], actor=staff
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        paused_at="2026-12-01T10:00:00Z", pause_reason="Failing since Sunday."
    )
    client, _ = staff_client("moderator")
    listing = client.get(LIST).content.decode()
    assert "Paused: http://127.0.0.1:9/x. Failing since Sunday." in listing
    page = client.get(reverse("admin:rooms_webhookendpoint_change", args=[endpoint.pk]))
    assert "resume-endpoint" in page.content.decode()
    resume = reverse("admin:rooms_webhookendpoint_resume", args=[endpoint.pk])
    assert "Resume deliveries to" in client.get(resume).content.decode()  # asks first
    assert WebhookEndpoint.objects.get().is_paused
    assert client.post(resume).status_code == 400  # no reason given: nothing happens
    assert WebhookEndpoint.objects.get().is_paused
    client.post(resume, REASON)
    assert not WebhookEndpoint.objects.get().is_paused
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_RESUMED)
    assert entry.details["reason"] == REASON["reason"]


@pytest.mark.django_db(transaction=True)
def test_a_deliverys_attempts_are_shown_and_it_can_be_sent_again(staff_client, staff, ride):
    with receiver_running(status=503, body=b"maintenance until 15:00") as receiver:
        endpoint = webhooks.webhook_endpoint_create(
            url=receiver.url, event_types=["ride.ended"], actor=staff
        )
        receiver.secret = endpoint.secret
        room_deactivate(room=ride.room, actor=ride.leader)
        webhooks.webhook_drain(endpoint_id=endpoint.pk, room_id=ride.room.pk)
        delivery = WebhookDelivery.objects.get()
        client, _ = staff_client("moderator")
        page = client.get(reverse("admin:rooms_webhookdelivery_change", args=[delivery.pk]))
        text = page.content.decode()
        assert "maintenance until 15:00" in text
        assert "503" in text
        receiver.status = 200
        WebhookDelivery.objects.update(next_attempt_at=None)
        redeliver = reverse("admin:rooms_webhookdelivery_redeliver", args=[delivery.pk])
        client.post(redeliver, REASON)
        webhooks.webhook_drain(endpoint_id=endpoint.pk, room_id=ride.room.pk)
        assert [r.payload["type"] for r in receiver.received] == ["ride.ended"]
        assert list(
            WebhookAttempt.objects.order_by("number").values_list("status_code", flat=True)
        ) == [503, 200]
