from dataclasses import dataclass

from riders.models import Rider
from rooms.alerts import position_of
from rooms.errors import NotInRoom, RemovedFromRide, RoomInactive
from rooms.models import AlertKind, AlertStatus, RideAlert, Room
from rooms.selectors import (
    participant_get_active,
    room_alerts_announced,
    room_get_by_code,
    room_removed_participants,
)
from sessions_rt.safety_rules import Thresholds
from sessions_rt.store.client import iso
from sessions_rt.store.events import snapshot


def ride_socket_room(*, code: str, rider: Rider) -> Room:
    """The ride whose socket ``code`` names, if ``rider`` may hold one: an active participant
    of an active ride. Two queries; a third only to tell a removed rider from one who left.

    Raises RoomNotFound or InvalidRoomCode (the socket closes 4004), RoomInactive (4011),
    RemovedFromRide (4010: the leader or support removed the rider, who cannot come back until
    readmitted) or NotInRoom (4003: join over REST first). Ending a ride ends every
    participation too, so the ride is checked first: its riders hear "the ride ended", not
    "join it first".
    """
    room = room_get_by_code(code=code)
    if not room.is_active:
        raise RoomInactive()
    try:
        participant_get_active(rider=rider, room=room)
    except NotInRoom:
        if room_removed_participants(room=room).filter(user=rider).exists():
            raise RemovedFromRide() from None
        raise
    return room


def live_room_snapshot(*, room: Room) -> dict:
    """The live state of a ride: members with status, last seen, position and WebRTC links.

    Raises RealtimeUnavailable (503) when Redis cannot be reached.
    """
    return snapshot(room.pk)


def live_alerts(*, room_id) -> list[dict]:
    """The ride's alerts that everyone knows of and that are not over, as a socket's snapshot
    lists them: open first, then acknowledged, each newest first. One query."""
    return [
        {
            "alert_id": str(alert.pk),
            "rider_id": str(alert.rider_id),
            "kind": alert.kind,
            "status": alert.status,
            "raised_at": iso(alert.raised_at),
            "position": position_of(alert),
            "details": alert.details,
            "acknowledged_by_id": (
                None if alert.acknowledged_by_id is None else str(alert.acknowledged_by_id)
            ),
            "acknowledged_at": None
            if alert.acknowledged_at is None
            else iso(alert.acknowledged_at),
        }
        for alert in room_alerts_announced(room_id=room_id)
    ]


@dataclass(frozen=True)
class LiveLink:
    peer: str
    state: str
    ice_state: str | None
    changed_at: str


@dataclass(frozen=True)
class LiveMember:
    rider_id: str
    username: str
    role: str
    status: str | None
    last_seen: str | None
    network_type: str | None
    battery_pct: int | None
    links: list[LiveLink]


def live_room_members(*, room: Room) -> list[LiveMember]:
    """Who is live in the ride now, by username, each with their WebRTC links to the others.

    One Redis round trip and one query for the names. Raises RealtimeUnavailable.
    """
    snapshot = live_room_snapshot(room=room)
    ids = {member["rider_id"] for member in snapshot["members"]}
    ids.update(link["peer_id"] for link in snapshot["connections"])
    found = Rider.objects.filter(pk__in=ids).values_list("pk", "username")
    names = {str(pk): username for pk, username in found}
    links: dict[str, list[LiveLink]] = {}
    for link in snapshot["connections"]:
        links.setdefault(link["rider_id"], []).append(
            LiveLink(
                peer=names.get(link["peer_id"], link["peer_id"]),
                state=link["state"],
                ice_state=link["ice_state"],
                changed_at=link["changed_at"],
            )
        )
    return [
        LiveMember(
            rider_id=member["rider_id"],
            username=names.get(member["rider_id"], member["rider_id"]),
            role=member["role"],
            status=member["status"],
            last_seen=member["last_seen"],
            network_type=member["network_type"],
            battery_pct=member["battery_pct"],
            links=links.get(member["rider_id"], []),
        )
        for member in snapshot["members"]
    ]


# The kinds the watcher raises; SOS is the rider's own.
WATCHED_KINDS = (AlertKind.SPLIT, AlertKind.STOPPED, AlertKind.SILENT)


def ride_watch_thresholds(*, room_id: str, grace_seconds: int) -> Thresholds | None:
    """The ride's own thresholds for the safety rules, or None once it ended. One query."""
    row = (
        Room.objects.filter(pk=room_id, is_active=True)
        .values("split_distance_m", "stopped_seconds", "silent_speed_kmh")
        .first()
    )
    if row is None:
        return None
    return Thresholds(**row, grace_seconds=grace_seconds)


def ride_open_watched_alerts(*, room_id: str) -> set[tuple[str, str]]:
    """(rider id, kind) of the ride's open or acknowledged alerts the watcher raises. One
    query."""
    rows = RideAlert.objects.filter(
        room_id=room_id,
        kind__in=WATCHED_KINDS,
        status__in=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED),
    ).values_list("rider_id", "kind")
    return {(str(rider_id), kind) for rider_id, kind in rows}
