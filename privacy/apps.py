from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """A rider's data as a whole: deleting the account, and exporting a copy of it."""

    name = "privacy"
    verbose_name = "Privacy"
