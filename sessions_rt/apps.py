from django.apps import AppConfig


class SessionsRtConfig(AppConfig):
    name = "sessions_rt"
    verbose_name = "Real-time sessions"
