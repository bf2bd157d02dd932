from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RidersConfig(AppConfig):
    name = "riders"
    verbose_name = "Riders"

    def ready(self):
        post_migrate.connect(_sync_staff_roles, sender=self)


def _sync_staff_roles(sender, using="default", **kwargs):
    """Keep the role groups in step with the code after every migrate (and test flush)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from riders.roles import ROLE_PERMISSIONS, staff_roles_sync

    # The permissions of the later apps are only created when their own post_migrate runs.
    for app_label in {app_label for perms in ROLE_PERMISSIONS.values() for app_label, _ in perms}:
        create_permissions(global_apps.get_app_config(app_label), verbosity=0, using=using)
    staff_roles_sync()
