"""Deleting an account (telemetry.account_deletion): the personal data erased, the rider out of their
ride, their history handed to an anonymous stand-in, the trail scrubbed; all or nothing."""

import json
from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from riders.auth_tokens import token_authenticate, token_issue
from riders.email_verification import email_verification_start
from riders.errors import (
    AccountAlreadyDeleted,
    AccountClosed,
    CannotDeleteSelf,
    PasswordAttemptsLimited,
    StandInNotDeletable,
    SuperuserDeletionProtected,
    WrongPassword,
)
from riders.models import AuditAction, AuditEntry, EmailToken, Mail, Rider
from riders.services import rider_change_password, rider_create
from rooms.models import Room, RoomParticipant
from rooms.services import participant_join, participant_remove, room_create
from telemetry.account_deletion import account_delete_by_staff, account_delete_own
from telemetry.errors import ExportNotFound
from telemetry.exports import archive_path, export_download_open, export_request
from telemetry.models import ConnectionLog, ExportJob, ExportState
from telemetry.selectors import connection_log_report
from telemetry.services import connection_log_ingest_batch
from tests.riders.factories import TEST_PASSWORD, RiderFactory
from tests.telemetry.factories import ride_history


def _stand_in() -> Rider:
    return Rider.objects.get(is_stand_in=True)


def _report(*, at, **subject):
    """The statistics, per minute, of the two hours before ``at``."""
    return connection_log_report(
        since=at - timedelta(hours=2), until=at + timedelta(minutes=1), bucket="1m", **subject
    )


def test_the_account_becomes_a_tombstone_and_its_names_are_free_again(history):
    rider = history.rider
    rider.display_name = "Ana Rides"
    rider.save(update_fields=["display_name"])
    old_username, old_email = rider.username, rider.email

    deleted = account_delete_own(rider=rider, password=TEST_PASSWORD)

    tombstone = Rider.objects.get(pk=rider.pk)
    assert tombstone.username.startswith("deleted-")
    assert tombstone.email == f"{tombstone.username}@deleted.invalid"
    assert tombstone.display_name == ""
    assert not tombstone.has_usable_password()
    assert not tombstone.check_password(TEST_PASSWORD)
    assert (tombstone.is_active, tombstone.is_staff, tombstone.is_superuser) == (False,) * 3
    assert tombstone.deleted_at is not None
    assert tombstone.last_login is None
    assert deleted.tombstone.username == tombstone.username
    # Anyone may take the names, in any letter case.
    again = rider_create(
        username=old_username.upper(), email=old_email.upper(), password="a-new-rider-2027"
    )
    assert again.pk != rider.pk


def test_every_device_is_signed_out(rider):
    keys = [token_issue(rider=rider, device_name=name).key for name in ("phone", "tablet")]
    deleted = account_delete_own(rider=rider, password=TEST_PASSWORD)
    assert deleted.tokens_revoked == 2
    assert all(token_authenticate(key=key) is None for key in keys)


def test_the_rider_leaves_their_ride_and_the_live_layer_hears_why(
    history, django_capture_on_commit_callbacks, monkeypatch
):
    heard = []
    monkeypatch.setattr(
        "sessions_rt.services.realtime_rider_removed", lambda **kwargs: heard.append(kwargs)
    )
    with django_capture_on_commit_callbacks(execute=True):
        deleted = account_delete_own(rider=history.rider, password=TEST_PASSWORD)

    assert deleted.left_ride
    assert heard == [
        {"room_id": history.current.pk, "rider_id": history.rider.pk, "reason": "account_deleted"}
    ]
    assert not RoomParticipant.objects.filter(is_active=True, user__is_stand_in=True).exists()
    # The others ride on.
    assert RoomParticipant.objects.filter(room=history.current, is_active=True).count() == 2


def test_the_ride_history_passes_to_one_stand_in_no_one_can_log_in_as(history):
    before = list(
        RoomParticipant.objects.filter(user=history.rider)
        .order_by("joined_at")
        .values_list("room_id", "joined_at")
    )
    logs = ConnectionLog.objects.filter(user=history.rider).count()

    deleted = account_delete_own(rider=history.rider, password=TEST_PASSWORD)

    stand_in = _stand_in()
    assert stand_in.username.startswith("anonymous-")
    assert (stand_in.is_active, stand_in.has_usable_password()) == (False, False)
    assert stand_in.deleted_at is None
    # Dated from its history's start, not from the deletion.
    assert stand_in.created_at == before[0][1]
    assert not RoomParticipant.objects.filter(user=history.rider).exists()
    assert (
        list(
            RoomParticipant.objects.filter(user=stand_in)
            .order_by("joined_at")
            .values_list("room_id", "joined_at")
        )
        == before
    )
    assert Room.objects.get(pk=history.opened.pk).creator == stand_in
    assert not ConnectionLog.objects.filter(user=history.rider).exists()
    assert ConnectionLog.objects.filter(user=stand_in).count() == logs == deleted.connection_logs
    assert (deleted.participations, deleted.rides_opened) == (2, 1)


def test_nothing_stored_ties_the_stand_in_to_the_account(history):
    account_delete_own(rider=history.rider, password=TEST_PASSWORD)
    stand_in, tombstone = _stand_in(), Rider.objects.get(pk=history.rider.pk)

    deletion = AuditEntry.objects.get(action=AuditAction.RIDER_DELETED)
    about_tombstone = AuditEntry.objects.filter(Q(actor=tombstone) | Q(target_id=str(tombstone.pk)))
    text = json.dumps(list(about_tombstone.values("target_label", "details")), default=str)
    assert str(stand_in.pk) not in text
    assert stand_in.username not in text
    assert deletion.details["ride_memberships_anonymised"] == 2


def test_ride_statistics_add_up_the_same_after_deletion(db):
    # Two riders of the same rides deleted: each stand-in keeps its own sequence of events,
    # so the time to reconnect (reconnecting, then reconnected, per rider) is unchanged.
    history = ride_history()
    rooms = (history.opened, history.current)
    at = timezone.now()
    rooms_before = [_report(at=at, room=room) for room in rooms]
    rider_before = _report(at=at, rider=history.rider)

    account_delete_own(rider=history.rider, password=TEST_PASSWORD)
    account_delete_own(rider=history.other, password=TEST_PASSWORD)

    assert [_report(at=at, room=room) for room in rooms] == rooms_before
    assert rooms_before[1].mean_time_to_reconnect_ms == pytest.approx(75_000, abs=500)
    assert Rider.objects.filter(is_stand_in=True).count() == 2
    # The stand-in that opened the first ride is the first rider's: it has their figures.
    stand_in = Room.objects.get(pk=history.opened.pk).creator
    assert stand_in.is_stand_in
    assert _report(at=at, rider=stand_in) == rider_before


def test_the_trail_records_the_deletion_and_forgets_the_names(history):
    rider, leader = history.rider, history.leader
    old_username, old_email = rider.username, rider.email
    rider_change_password(
        rider=rider, current_password=TEST_PASSWORD, new_password="another-ride-2027"
    )
    participant_remove(room=history.current, rider=rider, actor=leader)
    participant_join(rider=rider, code=history.opened.code)

    account_delete_own(rider=rider, password="another-ride-2027")

    tombstone, stand_in = Rider.objects.get(pk=rider.pk), _stand_in()
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_DELETED)
    assert (entry.actor, entry.target_id, entry.target_label) == (
        tombstone,
        str(rider.pk),
        tombstone.username,
    )
    assert entry.details["by"] == "the rider"
    everything = json.dumps(
        list(AuditEntry.objects.values("target_label", "details")), default=str
    ).lower()
    assert old_username.lower() not in everything
    assert old_email.lower() not in everything
    # The account's own entries now read as the tombstone.
    changed = AuditEntry.objects.get(action=AuditAction.PASSWORD_CHANGED)
    assert (changed.target_label, changed.actor) == (tombstone.username, tombstone)
    # Entries about the rider's rides follow the rides to the stand-in.
    removed = AuditEntry.objects.get(action=AuditAction.PARTICIPANT_REMOVED)
    assert removed.actor == leader
    assert removed.details["rider_id"] == str(stand_in.pk)
    assert removed.details["username"] == stand_in.username
    assert removed.target_label.startswith(f"{stand_in.username} from ")
    opened = AuditEntry.objects.get(
        action=AuditAction.ROOM_CREATED, target_id=str(history.opened.pk)
    )
    assert opened.actor == stand_in


def test_a_name_inside_a_longer_word_is_not_the_name(db):
    rider = RiderFactory(username="ana")
    room = room_create(creator=rider, name="Banana ride")
    account_delete_own(rider=rider, password=TEST_PASSWORD)
    assert AuditEntry.objects.get(action=AuditAction.ROOM_CREATED).target_label == str(room)


def test_a_deletion_that_fails_half_way_leaves_the_account_whole(
    history, monkeypatch, django_capture_on_commit_callbacks
):
    rider = history.rider
    key = token_issue(rider=rider, device_name="phone").key
    before = Rider.objects.filter(pk=rider.pk).values().get()
    logs = ConnectionLog.objects.filter(user=rider).count()
    audit = AuditEntry.objects.count()

    def disk_on_fire(**kwargs):
        raise RuntimeError("the audit entry could not be written")

    # The last step: everything else has been done by then.
    monkeypatch.setattr("telemetry.account_deletion.audit_record", disk_on_fire)
    with (
        django_capture_on_commit_callbacks(execute=True) as delivered,
        pytest.raises(RuntimeError),
    ):
        account_delete_own(rider=rider, password=TEST_PASSWORD)

    assert Rider.objects.filter(pk=rider.pk).values().get() == before
    assert token_authenticate(key=key) is not None
    assert RoomParticipant.objects.get(room=history.current, user=rider).is_active
    assert RoomParticipant.objects.filter(user=rider).count() == 2
    assert Room.objects.get(pk=history.opened.pk).creator_id == rider.pk
    assert ConnectionLog.objects.filter(user=rider).count() == logs
    assert not Rider.objects.filter(is_stand_in=True).exists()
    assert AuditEntry.objects.count() == audit
    # Nothing was announced: the rider's socket stays open.
    assert delivered == []


def test_deleting_an_account_twice_is_refused(rider):
    account_delete_own(rider=rider, password=TEST_PASSWORD)
    with pytest.raises(AccountAlreadyDeleted):
        account_delete_by_staff(rider=rider, actor=RiderFactory(is_superuser=True, is_staff=True))
    assert AuditEntry.objects.filter(action=AuditAction.RIDER_DELETED).count() == 1


def test_a_wrong_password_deletes_nothing_and_counts_against_the_limit(rider, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "password_failures": "3/hour"}
    for _ in range(3):
        with pytest.raises(WrongPassword):
            account_delete_own(rider=rider, password="not-my-password")
    with pytest.raises(PasswordAttemptsLimited):
        account_delete_own(rider=rider, password=TEST_PASSWORD)
    rider.refresh_from_db()
    assert (rider.is_active, rider.deleted_at) == (True, None)


@pytest.mark.parametrize("password", ["", " " + TEST_PASSWORD, "\ud800"])
def test_a_password_that_is_not_the_password_is_wrong(rider, password):
    with pytest.raises(WrongPassword):
        account_delete_own(rider=rider, password=password)


def test_a_moderator_deletes_an_account_and_is_the_actor(history):
    moderator = RiderFactory(is_staff=True)
    deleted = account_delete_by_staff(rider=history.rider, actor=moderator)
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_DELETED)
    assert (entry.actor, entry.details["by"]) == (moderator, "staff")
    assert entry.target_label == deleted.tombstone.username


def test_staff_rules_of_deletion(db):
    moderator = RiderFactory(is_staff=True)
    root = RiderFactory(is_staff=True, is_superuser=True)
    with pytest.raises(CannotDeleteSelf):
        account_delete_by_staff(rider=moderator, actor=moderator)
    with pytest.raises(SuperuserDeletionProtected):
        account_delete_by_staff(rider=root, actor=moderator)
    account_delete_by_staff(rider=root, actor=RiderFactory(is_staff=True, is_superuser=True))
    with pytest.raises(StandInNotDeletable):
        account_delete_by_staff(rider=_stand_in(), actor=moderator)


def test_a_staff_member_deleting_their_own_account_loses_every_role(db):
    member = RiderFactory(is_staff=True, is_superuser=True)
    account_delete_own(rider=member, password=TEST_PASSWORD)
    member.refresh_from_db()
    assert (member.is_staff, member.is_superuser, member.groups.count()) == (False, False, 0)


def test_the_riders_exports_go_with_the_account(rider, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = export_request(rider=rider)
    assert job.state == ExportState.READY
    assert archive_path(job.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        deleted = account_delete_own(rider=rider, password=TEST_PASSWORD)

    assert deleted.exports_discarded == 1
    assert not ExportJob.objects.exists()
    assert not archive_path(job.pk).exists()
    with pytest.raises(ExportNotFound):
        export_download_open(rider=rider)


def test_nothing_can_be_added_to_a_deleted_account_by_a_request_already_under_way(history):
    # The request was authenticated before the deletion; its rider object is stale.
    stale = Rider.objects.get(pk=history.rider.pk)
    account_delete_own(rider=history.rider, password=TEST_PASSWORD)
    with pytest.raises(AccountClosed):
        participant_join(rider=stale, code=history.opened.code)
    with pytest.raises(AccountClosed):
        room_create(creator=stale, name="After the end")
    with pytest.raises(AccountClosed):
        connection_log_ingest_batch(
            rider=stale,
            events=[
                {
                    "event_type": "connected",
                    "occurred_at": timezone.now().isoformat(),
                    "client_event_id": "late-1",
                }
            ],
        )
    assert not ConnectionLog.objects.filter(user=history.rider).exists()
    assert not RoomParticipant.objects.filter(user=history.rider).exists()


def test_mailed_links_and_mails_of_the_account_go_with_it(rider):
    email_verification_start(rider=rider)
    assert EmailToken.objects.filter(rider=rider).exists()
    assert Mail.objects.filter(rider=rider).exists()
    Rider.objects.filter(pk=rider.pk).update(email_verified_at=timezone.now())

    account_delete_own(rider=rider, password=TEST_PASSWORD)

    assert not EmailToken.objects.filter(rider=rider).exists()
    assert not Mail.objects.filter(rider=rider).exists()
    assert Rider.objects.get(pk=rider.pk).email_verified_at is None
