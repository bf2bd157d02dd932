"""The staff roles of the admin console and the permissions each one holds.

Support answers riders ("I can't hear my group"): it reads riders, rides, participants,
connection logs and the audit trail, ends rides and removes riders from rides. Moderator is
Support plus deactivating riders and deleting their accounts (Django's own delete_rider
permission, which only the console's deletion action uses). Nobody's role lets them edit logs
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
    ("telemetry", "view_connectionlog"),
)
ROLE_PERMISSIONS = {
    SUPPORT: SUPPORT_PERMISSIONS,
    MODERATOR: (*SUPPORT_PERMISSIONS, ("riders", "deactivate_rider"), ("riders", "delete_rider")),
}
# The command-line spelling of each role.
ROLE_NAMES = {"support": SUPPORT, "moderator": MODERATOR}


def roles_with_permission(permission: str) -> list[str]:
    """The roles holding ``permission`` ("app_label.codename"), in ROLE_PERMISSIONS' order."""
    app_label, _, codename = permission.partition(".")
    return [name for name, held in ROLE_PERMISSIONS.items() if (app_label, codename) in held]


def staff_roles_sync(*, apps=global_apps) -> None:
    """Create the role groups and give each exactly its permissions; safe to run again.

    ``apps`` is a migration's historical registry when called from a data migration.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = [
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in wanted
        ]
        group.permissions.set(permissions)
