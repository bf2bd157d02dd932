"""riders/me/emergency-contacts/: at most five, each reachable (an E.164 phone checked with
libphonenumber, or an email) and kept only with consent; another rider's are not found; they
go with the account."""

import uuid

import httpx
import pytest

from riders.auth_tokens import token_issue
from riders.emergency_contacts import emergency_contact_create
from riders.models import CONTACTS_PER_RIDER, EmergencyContact
from rooms.alerts import alert_raise
from rooms.models import AlertContactNotice, RideAlert
from rooms.services import participant_join, room_create
from telemetry.account_deletion import account_delete_own
from tests.racing import race
from tests.riders.factories import TEST_PASSWORD, RiderFactory

URL = "/api/v1/riders/me/emergency-contacts/"
SISTER = {"name": "Ana Ruiz", "phone": "+41 79 123 45 67", "consent": True}


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.django_db
def test_a_contact_is_added_listed_changed_and_removed(auth_client, rider):
    client = auth_client(rider)

    created = client.post(URL, SISTER, format="json")
    contact_id = created.json()["id"]
    listed = client.get(URL)
    one = client.get(f"{URL}{contact_id}/")
    renamed = client.patch(f"{URL}{contact_id}/", {"name": "Ana R."}, format="json")
    removed = client.delete(f"{URL}{contact_id}/")
    gone = client.get(f"{URL}{contact_id}/")

    assert created.status_code == 201, created.content
    assert created.json()["phone"] == "+41791234567"
    assert created.json()["email"] is None
    assert created.json()["consent_recorded_at"] is not None
    assert [item["id"] for item in listed.json()["results"]] == [contact_id]
    assert one.json() == created.json()
    assert renamed.json()["name"] == "Ana R."
    assert renamed.json()["consent_recorded_at"] == created.json()["consent_recorded_at"]
    assert removed.status_code == 204
    assert _error(gone) == (404, "emergency_contact_not_found")


@pytest.mark.django_db
def test_an_email_alone_is_enough(auth_client, rider):
    created = auth_client(rider).post(
        URL, {"name": "Club", "email": "Help@Example.COM", "consent": True}, format="json"
    )

    assert created.status_code == 201
    assert (created.json()["phone"], created.json()["email"]) == (None, "Help@example.com")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": "Ana", "consent": True}, "phone", id="neither"),
        pytest.param({**SISTER, "phone": "079 123 45 67"}, "phone", id="no-country-code"),
        pytest.param({**SISTER, "phone": "+41 12"}, "phone", id="too-short"),
        pytest.param({**SISTER, "phone": "+1 555 000 0000"}, "phone", id="not-in-plan"),
        pytest.param({**SISTER, "phone": "call me"}, "phone", id="words"),
        pytest.param({**SISTER, "phone": "+4" + "1" * 40}, "phone", id="huge"),
        pytest.param({**SISTER, "email": "not an address"}, "email", id="email"),
        pytest.param({**SISTER, "name": "   "}, "name", id="blank-name"),
        pytest.param({**SISTER, "name": "x" * 101}, "name", id="long-name"),
        pytest.param({**SISTER, "name": "Ana\u202eRuiz"}, "name", id="control-char"),
        pytest.param({**SISTER, "consent": False}, "consent", id="no-consent"),
    ],
)
def test_a_contact_that_cannot_be_reached_or_has_no_consent_is_422(auth_client, rider, body, field):
    refused = auth_client(rider).post(URL, body, format="json")

    assert _error(refused) == (422, "invalid_emergency_contact")
    assert field in refused.json()["error"]["fields"]
    assert not EmergencyContact.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"phone": "+41791234567", "consent": True}, id="no-name"),
        pytest.param({"name": "Ana", "phone": "+41791234567"}, id="no-consent-field"),
        pytest.param({**SISTER, "consent": "true"}, id="consent-text"),
        pytest.param({**SISTER, "phone": 41791234567}, id="phone-number"),
        pytest.param({**SISTER, "name": ["Ana"]}, id="name-list"),
        pytest.param({**SISTER, "relation": "sister"}, id="unknown-field"),
    ],
)
def test_wrong_types_and_unknown_fields_are_400(auth_client, rider, body):
    refused = auth_client(rider).post(URL, body, format="json")

    assert refused.status_code == 400
    assert not EmergencyContact.objects.exists()


@pytest.mark.django_db
def test_at_most_five_contacts(auth_client, rider):
    client = auth_client(rider)
    for n in range(CONTACTS_PER_RIDER):
        assert (
            client.post(URL, {**SISTER, "name": f"Contact {n}"}, format="json").status_code == 201
        )

    sixth = client.post(URL, SISTER, format="json")

    assert _error(sixth) == (409, "emergency_contacts_full")
    assert EmergencyContact.objects.count() == CONTACTS_PER_RIDER


@pytest.mark.django_db(transaction=True)
def test_ten_contacts_added_at_once_stop_at_five():
    rider = RiderFactory()

    results = race(
        [
            lambda n=n: emergency_contact_create(
                rider=rider, name=f"Contact {n}", phone="+41791234567", consent=True
            )
            for n in range(10)
        ]
    )

    assert sorted(type(result).__name__ for result in results) == (
        ["EmergencyContact"] * 5 + ["EmergencyContactsFull"] * 5
    )
    assert EmergencyContact.objects.filter(rider=rider).count() == 5


@pytest.mark.django_db
def test_a_new_phone_or_email_needs_consent_again(auth_client, rider):
    client = auth_client(rider)
    contact = client.post(URL, SISTER, format="json").json()
    url = f"{URL}{contact['id']}/"

    without = client.patch(url, {"phone": "+41 79 765 43 21"}, format="json")
    with_consent = client.patch(url, {"phone": "+41 79 765 43 21", "consent": True}, format="json")
    emptied = client.patch(url, {"phone": None}, format="json")

    assert _error(without) == (422, "invalid_emergency_contact")
    assert with_consent.json()["phone"] == "+41797654321"
    assert with_consent.json()["consent_recorded_at"] > contact["consent_recorded_at"]
    # Neither phone nor email left: refused, and the contact is as it was.
    assert _error(emptied) == (422, "invalid_emergency_contact")
    assert EmergencyContact.objects.get().phone == "+41797654321"


@pytest.mark.django_db
def test_another_riders_contact_is_not_found(auth_client, rider, other_rider):
    theirs = emergency_contact_create(
        rider=other_rider, name="Theirs", phone="+41791234567", consent=True
    )
    client = auth_client(rider)

    answers = [
        client.get(f"{URL}{theirs.pk}/"),
        client.patch(f"{URL}{theirs.pk}/", {"name": "Mine now"}, format="json"),
        client.delete(f"{URL}{theirs.pk}/"),
        client.get(f"{URL}{uuid.uuid4()}/"),
        client.get(f"{URL}not-an-id/"),
    ]

    assert [_error(answer) for answer in answers] == [(404, "emergency_contact_not_found")] * 5
    assert EmergencyContact.objects.get().name == "Theirs"
    assert client.get(URL).json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, CONTACTS_PER_RIDER])
def test_the_list_runs_a_fixed_number_of_queries(auth_client, rider, exact_queries, rows):
    for n in range(rows):
        emergency_contact_create(rider=rider, name=f"C{n}", email=f"c{n}@example.com", consent=True)
    client = auth_client(rider)
    assert client.get(URL).status_code == 200  # warm-up: last_used_at of a new token

    # token, count, page of contacts
    with exact_queries(3):
        listed = client.get(URL)

    assert len(listed.json()["results"]) == rows


@pytest.mark.django_db
def test_contacts_and_alerts_about_the_rider_go_with_the_account(other_rider):
    rider = RiderFactory()
    room = room_create(creator=other_rider, name="Last ride")
    participant_join(rider=rider, code=room.code)
    alert, _ = alert_raise(
        room_id=room.pk, rider_id=rider.pk, kind="sos", position=None, trail=[], details={}
    )
    contact = emergency_contact_create(rider=rider, name="Ana", phone="+41791234567", consent=True)
    kept = emergency_contact_create(
        rider=other_rider, name="Kept", email="k@example.com", consent=True
    )
    AlertContactNotice.objects.create(alert=alert, contact=contact)

    account_delete_own(rider=rider, password=TEST_PASSWORD)

    assert list(EmergencyContact.objects.all()) == [kept]
    assert not RideAlert.objects.exists()
    assert not AlertContactNotice.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_over_http_a_contact_is_added_and_a_huge_body_refused(live_server_url):
    rider = RiderFactory()
    auth = {"Authorization": f"Bearer {token_issue(rider=rider).key}"}

    with httpx.Client(base_url=live_server_url, timeout=30) as http:
        created = http.post(URL, json=SISTER, headers=auth)
        huge = http.post(URL, json={**SISTER, "name": "x" * 2_000_000}, headers=auth)
        wrong = http.post(
            URL,
            content=b'{"name": "Ana", "consent": tru',
            headers={**auth, "Content-Type": "application/json"},
        )

    assert created.status_code == 201, created.text
    assert huge.status_code == 413
    assert wrong.status_code == 400
    assert EmergencyContact.objects.filter(rider=rider).count() == 1
