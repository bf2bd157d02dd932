# The Support and Moderator groups of the admin console, with their permissions.
# riders.roles holds the definition; post_migrate re-applies it after every migrate.

from django.contrib.auth.management import create_permissions
from django.db import migrations

from riders.roles import staff_roles_sync


def create_staff_roles(apps, schema_editor):
    # Permissions are normally created after the whole migrate run; the groups need them now.
    for app_label in ("riders", "rooms", "telemetry"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    staff_roles_sync(apps=apps)


def remove_staff_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=("Support", "Moderator")).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("riders", "0003_audit_trail"),
        ("rooms", "0002_staff_permissions"),
        ("telemetry", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_staff_roles, remove_staff_roles),
    ]
