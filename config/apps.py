from django.apps import AppConfig


class ConvoyConfig(AppConfig):
    """Cross-cutting operations commands (serve, check_database, seed_demo ...) live here."""

    name = "config"
    label = "convoy"
    verbose_name = "Convoy"

    def ready(self):
        from config.logs import configure_structlog

        configure_structlog()
