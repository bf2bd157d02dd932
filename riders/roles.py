"""The staff roles of the admin console and the permissions each one holds.

Support answers riders ("I can't hear my group"): it reads riders, rides, participants,
connection logs and the audit trail, ends rides, removes riders from rides, and acknowledges
and resolves ride alerts. Moderator is
Support plus deactivating riders and deleting their accounts (Django's own delete_rider
permission, which only the console's deletion action uses) and managing operators' webhook
endpoints, which Support only sees. Nobody's role lets them edit logs
or the audit trail.
"""

from django.apps import apps as global_apps

SUPPORT = "Support"
MODERATOR = "Moderator"

SUPPORT_PERMISSIONS = (
    ("riders", "view_rider"),
    ("riders", "view_authtoken"),
    ("riders", "view_auditentry"),
    ("rooms", "view_room"),
    ("rooms", "view_roomparticipant"),
    ("rooms", "deactivate_room"),
    ("rooms", "remove_participant"),
    ("rooms", "view_ridealert"),
    ("rooms", "handle_alert"),
    ("telemetry", "view_connectionlog"),
    ("rooms", "view_webhookendpoint"),
    ("rooms", "view_webhookdelivery"),
    ("rooms", "view_webhookattempt"),
)
ROLE_PERMISSIONS = {
    SUPPORT: SUPPORT_PERMISSIONS,
    MODERATOR: (
        *SUPPORT_PERMISSIONS,
        ("riders", "deactivate_rider"),
        ("riders", "delete_rider"),
        # Registering operators' receivers, resuming a paused one, redelivering an event.
        ("rooms", "add_webhookendpoint"),
        ("rooms", "change_webhookendpoint"),
    ),
}
# The command-line spelling of each role.
ROLE_NAMES = {"support": SUPPORT, "moderator": MODERATOR}


def roles_with_permission(permission: str) -> list[str]:
    """The roles holding ``permission`` ("app_label.codename"), in ROLE_PERMISSIONS' order."""
    app_label, _, codename = permission.partition(".")
    return [name for name, held in ROLE_PERMISSIONS.items() if (app_label, codename) in held]


def staff_roles_sync(*, apps=global_apps) -> None:
    """Create the role groups and give each exactly its permissions; safe to run again.

    ``apps`` is a migration's historical registry when called from a data migration. There,
    the permissions of models a later migration creates do not exist yet and are left out:
    post_migrate runs this again with the current registry once every migration is applied.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        found = {
            (permission.content_type.app_label, permission.codename): permission
            for permission in Permission.objects.filter(
                codename__in=[codename for _, codename in wanted]
            ).select_related("content_type")
        }
        missing = [pair for pair in wanted if pair not in found]
        if missing and apps is global_apps:
            raise LookupError(f"The {name} role's permissions do not exist: {missing}")
        # A data migration runs before the models added after it (and their permissions)
        # exist: it grants what exists, and post_migrate, after the whole run, the rest.
        group.permissions.set([found[pair] for pair in wanted if pair in found])
