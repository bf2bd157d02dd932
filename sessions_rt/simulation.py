"""Simulated rides: riders moving along a route at chosen speeds, each on a real socket to a
server, with scripted incidents. Used by ``manage.py simulate_ride`` and by tests.

The route is a straight line from a start point along a heading (a few km of road, which is
all a group spans); each rider starts some metres behind the front and sends a position a
second, as a phone does. Incidents change what riders do from a moment on:

- ``stop``: the riders stop (speed 0) and stay stopped;
- ``fall_behind``: the riders ride on at half their speed;
- ``silent``: the riders' connections are cut (no close frame, as when a phone breaks) and
  never come back;
- ``group_stop``: every rider stops for ``seconds``, then rides on;
- ``tunnel``: the riders' connections are cut for ``seconds``, then they connect again; they
  keep moving meanwhile.

``RideSimulation.run`` returns when each incident began (UTC), so a caller can measure how
long the server took to raise its alert.
"""

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import websockets
from websockets.typing import Subprotocol

from sessions_rt.consumers import PROTOCOL

IncidentKind = Literal["stop", "fall_behind", "silent", "group_stop", "tunnel"]
INCIDENT_KINDS: tuple[IncidentKind, ...] = ("stop", "fall_behind", "silent", "group_stop", "tunnel")
M_PER_DEG = 111_226.0
SEND_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class Incident:
    kind: IncidentKind
    at_seconds: float
    riders: tuple[int, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class SimulatedRider:
    key: str
    offset_m: float
    speed_kmh: float


@dataclass
class _Rider:
    plan: SimulatedRider
    travelled_m: float = 0.0
    socket: Any = None
    connected: bool = False


@dataclass
class SimulationReport:
    started_at: datetime
    incidents_began: list[tuple[Incident, datetime]] = field(default_factory=list)


class RideSimulation:
    """One ride's riders on real sockets to ``base_url`` (http or https), ride ``code``."""

    def __init__(
        self,
        *,
        base_url: str,
        code: str,
        riders: list[SimulatedRider],
        incidents: list[Incident] | None = None,
        start: tuple[float, float] = (45.0, 7.0),
        heading_deg: float = 0.0,
    ) -> None:
        self.url = f"{base_url.replace('http', 'ws', 1).rstrip('/')}/ws/rooms/{code}/"
        self.riders = [_Rider(plan=plan) for plan in riders]
        self.incidents = sorted(incidents or [], key=lambda incident: incident.at_seconds)
        self.start = start
        self.heading = math.radians(heading_deg)
        self._heading_deg = heading_deg

    async def run(self, duration_seconds: float) -> SimulationReport:
        report = SimulationReport(started_at=datetime.now(UTC))
        began = time.monotonic()
        pending = list(self.incidents)
        try:
            for rider in self.riders:
                await self._connect(rider)
            elapsed = 0.0
            while elapsed < duration_seconds:
                while pending and pending[0].at_seconds <= elapsed:
                    incident = pending.pop(0)
                    report.incidents_began.append((incident, datetime.now(UTC)))
                    await self._begin(incident)
                await self._reconnect_after_tunnels(elapsed)
                for index, rider in enumerate(self.riders):
                    speed = self._speed(index, elapsed)
                    rider.travelled_m += speed / 3.6 * SEND_EVERY_SECONDS
                    if rider.connected:
                        await self._send_position(rider, speed)
                await asyncio.sleep(
                    max(0.0, began + elapsed + SEND_EVERY_SECONDS - time.monotonic())
                )
                elapsed += SEND_EVERY_SECONDS
        finally:
            for rider in self.riders:
                await self._close(rider)
        return report

    def position(self, rider: _Rider) -> tuple[float, float]:
        along = rider.travelled_m - rider.plan.offset_m
        lat0, lon0 = self.start
        lat = lat0 + along * math.cos(self.heading) / M_PER_DEG
        lon = lon0 + along * math.sin(self.heading) / (M_PER_DEG * math.cos(math.radians(lat0)))
        return lat, lon

    def _speed(self, index: int, elapsed: float) -> float:
        speed = self.riders[index].plan.speed_kmh
        for incident in self.incidents:
            if incident.at_seconds > elapsed:
                continue
            concerned = not incident.riders or index in incident.riders
            if incident.kind == "stop" and concerned:
                speed = 0.0
            elif incident.kind == "fall_behind" and concerned:
                speed /= 2
            elif incident.kind == "group_stop" and elapsed < incident.at_seconds + incident.seconds:
                speed = 0.0
        return speed

    async def _begin(self, incident: Incident) -> None:
        if incident.kind in ("silent", "tunnel"):
            for index in incident.riders:
                self._cut(self.riders[index])

    async def _reconnect_after_tunnels(self, elapsed: float) -> None:
        for incident in self.incidents:
            if incident.kind != "tunnel" or elapsed < incident.at_seconds + incident.seconds:
                continue
            for index in incident.riders:
                if not self.riders[index].connected:
                    await self._connect(self.riders[index])

    async def _connect(self, rider: _Rider) -> None:
        rider.socket = await websockets.connect(
            self.url,
            subprotocols=[Subprotocol(PROTOCOL), Subprotocol(f"bearer.{rider.plan.key}")],
            open_timeout=10,
        )
        rider.connected = True
        # Read whatever the server sends, as a phone does, so its frames never queue.
        asyncio.get_running_loop().create_task(self._drain(rider.socket))

    @staticmethod
    async def _drain(socket) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await socket.recv()

    async def _send_position(self, rider: _Rider, speed: float) -> None:
        lat, lon = self.position(rider)
        message = {
            "type": "location",
            "lat": lat,
            "lon": lon,
            "speed_kmh": speed,
            "heading_deg": self._heading_deg,
        }
        try:
            await rider.socket.send(json.dumps(message))
        except websockets.ConnectionClosed:
            rider.connected = False

    @staticmethod
    def _cut(rider: _Rider) -> None:
        """The connection is lost, not closed: the server sees no close frame."""
        if rider.connected:
            rider.socket.transport.abort()
            rider.connected = False

    @staticmethod
    async def _close(rider: _Rider) -> None:
        if rider.connected:
            with contextlib.suppress(Exception):
                await rider.socket.close()
            rider.connected = False
