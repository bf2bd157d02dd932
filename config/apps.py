from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ConvoyConfig(AppConfig):
    """Cross-cutting operations commands (serve, check_database, seed_demo ...) live here."""

    name = "config"
    label = "convoy"
    verbose_name = "Convoy"

    def ready(self):
        from config.logs import configure_structlog

        configure_structlog()
        # Registers the schema's extensions with drf-spectacular.
        import config.api.schema  # noqa: F401


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with the support console's site (riders/admin_site.py: staff
    are riders, and log in and change their password under the riders' rules)."""

    default_site = "riders.admin_site.ConsoleAdminSite"
