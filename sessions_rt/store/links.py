"""The WebRTC link of each rider to each peer, as the rider's phone reports it."""

import uuid
from datetime import datetime

from redis import Redis

from sessions_rt.errors import InvalidRealtimeData, NotLiveMember
from sessions_rt.protocol import IceConnectionState, PeerConnectionState, canonical_id, choice
from sessions_rt.store import keys
from sessions_rt.store.client import redis_client, to_ms
from sessions_rt.store.events import Event, event_or_none
from sessions_rt.store.scripts import run_room_script


def connection_state_set(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    peer_id: uuid.UUID | str,
    state: str,
    ice_state: str | None = None,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """Record the state of ``rider_id``'s link to ``peer_id`` (None ``ice_state`` keeps the
    last one). Both must be live members. Returns connection_changed, or None when the state
    is what we had (the time of the last change then stays as it was).
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    peer = canonical_id(peer_id, field="peer_id")
    if peer == rider:
        raise InvalidRealtimeData(
            "A rider has no connection to themselves.", fields={"peer_id": "Another rider."}
        )
    link_state = choice(PeerConnectionState, state, field="state")
    ice = (
        choice(IceConnectionState, ice_state, field="ice_state").value
        if ice_state is not None
        else ""
    )
    reply = run_room_script(
        "connection",
        client=redis_client(client),
        room_id=room,
        now_ms=to_ms(now),
        args=(rider, peer, keys.connection_field(rider, peer), link_state.value, ice),
    )
    if reply[0] == b"not_member":
        who = reply[1].decode()
        if who == rider:
            raise NotLiveMember()
        raise NotLiveMember(
            "That peer is not connected to this ride.", fields={"peer_id": "Not connected."}
        )
    return event_or_none(room, reply[1])
