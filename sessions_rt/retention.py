"""How long, and how much, live ride state is kept.

Each value can be set in Django settings; it is read at call time so a deployment (or a test)
can change it without reloading this package.
"""

from django.conf import settings

# A phone heartbeats every few seconds; a minute and a half of silence means it is gone.
PRESENCE_TTL_SECONDS = 90
# How long a dropped socket (a tunnel, a dead zone) may stay "reconnecting" before the rider is
# taken out of the room with reason timed_out.
RECONNECT_GRACE_SECONDS = 30
# Every key of a room lives this long after the room's last activity.
ROOM_SESSION_TTL_SECONDS = 3600
# Events kept per room for "everything since seq N"; older requests get a snapshot.
EVENT_LOG_LENGTH = 500


def presence_ttl_seconds() -> int:
    return getattr(settings, "PRESENCE_TTL_SECONDS", PRESENCE_TTL_SECONDS)


def reconnect_grace_seconds() -> int:
    return getattr(settings, "RECONNECT_GRACE_SECONDS", RECONNECT_GRACE_SECONDS)


def room_session_ttl_seconds() -> int:
    return getattr(settings, "ROOM_SESSION_TTL_SECONDS", ROOM_SESSION_TTL_SECONDS)


def event_log_length() -> int:
    return getattr(settings, "REALTIME_EVENT_LOG_LENGTH", EVENT_LOG_LENGTH)
