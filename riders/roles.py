"""The staff roles of the admin console and the permissions each one holds.

Support answers riders ("I can't hear my group"): it reads riders, rides, participants,
connection logs and the audit trail, ends rides, removes riders from rides, and acknowledges
and resolves ride alerts. Moderator is
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
    ("rooms", "view_ridealert"),
    ("rooms", "handle_alert"),
    ("telemetry", "view_connectionlog"),
)
ROLE_PERMISSIONS = {
    SUPPORT: SUPPORT_PERMISSIONS,
    MODERATOR: (*SUPPORT_PERMISSIONS, ("riders", "deactivate_rider"), ("riders", "delete_rider")),
}
# The command-line spelling of each role.
ROLE_NAMES = {"support": SUPPORT, "moderator": MODERATOR}


def staff_roles_sync(*, apps=global_apps) -> None:
    """Create the role groups and give each exactly its permissions; safe to run again.

    ``apps`` is a migration's historical registry when called from a data migration. There,
    the permissions of models a later migration creates do not exist yet and are left out:
    post_migrate runs this again with the current registry once every migration is applied.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    historical = apps is not global_apps
    for name, wanted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = []
        for app_label, codename in wanted:
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is None and not historical:
                raise Permission.DoesNotExist(f"{app_label}.{codename}")
            if found is not None:
                permissions.append(found)
        group.permissions.set(permissions)
