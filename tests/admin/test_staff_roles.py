"""The Support and Moderator groups, and set_staff_role, the command that hands them out."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from riders.errors import UnknownStaffRole
from riders.models import AuditAction, AuditEntry
from riders.roles import MODERATOR, SUPPORT, staff_roles_sync
from riders.services import rider_set_staff_role
from tests.admin.conftest import make_staff
from tests.riders.factories import TEST_PASSWORD, RiderFactory

SUPPORT_CODENAMES = {
    "view_rider",
    "view_authtoken",
    "view_auditentry",
    "view_room",
    "view_roomparticipant",
    "deactivate_room",
    "remove_participant",
    "view_ridealert",
    "handle_alert",
    "view_connectionlog",
}


def codenames(group_name: str) -> set[str]:
    return set(Group.objects.get(name=group_name).permissions.values_list("codename", flat=True))


def test_the_groups_hold_exactly_their_permissions(db):
    assert codenames(SUPPORT) == SUPPORT_CODENAMES
    assert codenames(MODERATOR) == SUPPORT_CODENAMES | {"deactivate_rider", "delete_rider"}
    # Nothing that adds, changes or deletes, for any model: delete_rider only lets a
    # moderator delete an account through the console's action (telemetry.account_deletion),
    # never a row through a page.
    assert not any(
        name.startswith(("add_", "change_", "delete_"))
        for name in codenames(MODERATOR) - {"delete_rider"}
    )


def test_syncing_again_repairs_a_tampered_group(db):
    support = Group.objects.get(name=SUPPORT)
    support.permissions.clear()
    Group.objects.filter(name=MODERATOR).delete()
    staff_roles_sync()
    staff_roles_sync()
    assert codenames(SUPPORT) == SUPPORT_CODENAMES
    assert Group.objects.filter(name__in=(SUPPORT, MODERATOR)).count() == 2


@pytest.mark.parametrize(("role", "group"), [("support", SUPPORT), ("moderator", MODERATOR)])
def test_set_staff_role_makes_staff_of_one_role(rider, capsys, role, group):
    call_command("set_staff_role", rider.email.upper(), role)
    call_command("set_staff_role", rider.username, role)
    rider.refresh_from_db()
    assert rider.is_staff
    assert list(rider.groups.values_list("name", flat=True)) == [group]
    assert f"{rider.username} is now {group} staff" in capsys.readouterr().out
    entry = AuditEntry.objects.filter(action=AuditAction.STAFF_ROLE_CHANGED).first()
    assert (entry.actor, entry.target_id, entry.details) == (
        None,
        str(rider.pk),
        {"role": role, "is_staff": True},
    )


def test_changing_role_replaces_the_old_one_and_none_takes_access_away(rider):
    call_command("set_staff_role", rider.username, "moderator")
    call_command("set_staff_role", rider.username, "support")
    rider.refresh_from_db()
    assert list(rider.groups.values_list("name", flat=True)) == [SUPPORT]
    call_command("set_staff_role", rider.username, "none")
    rider.refresh_from_db()
    assert (rider.is_staff, rider.groups.count()) == (False, 0)


def test_a_superuser_keeps_staff_access_without_a_role(db):
    root = RiderFactory(is_staff=True, is_superuser=True)
    rider_set_staff_role(rider=root, role=None, actor=None)
    root.refresh_from_db()
    assert root.is_staff


def test_unknown_riders_and_roles_are_refused(rider):
    with pytest.raises(CommandError, match="No rider has the username or email 'ghost'"):
        call_command("set_staff_role", "ghost", "support")
    with pytest.raises(CommandError):
        call_command("set_staff_role", rider.username, "admin")
    with pytest.raises(UnknownStaffRole):
        rider_set_staff_role(rider=rider, role="admin", actor=None)


def test_a_staff_members_own_password_change_in_the_console_is_audited(client):
    agent = make_staff("support")
    client.force_login(agent)

    response = client.post(
        "/admin/password_change/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "a-new-Long-passphrase-42",
            "new_password2": "a-new-Long-passphrase-42",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/password_change/done/"
    agent.refresh_from_db()
    assert agent.check_password("a-new-Long-passphrase-42")
    [entry] = AuditEntry.objects.filter(action=AuditAction.PASSWORD_CHANGED)
    assert entry.actor_id == agent.pk


def test_a_wrong_current_password_in_the_console_changes_and_records_nothing(client):
    agent = make_staff("support")
    client.force_login(agent)

    response = client.post(
        "/admin/password_change/",
        {
            "old_password": "not-the-password",
            "new_password1": "a-new-Long-passphrase-42",
            "new_password2": "a-new-Long-passphrase-42",
        },
    )

    assert response.status_code == 200
    assert "incorrectly" in response.content.decode()
    agent.refresh_from_db()
    assert agent.check_password(TEST_PASSWORD)
    assert not AuditEntry.objects.filter(action=AuditAction.PASSWORD_CHANGED).exists()
