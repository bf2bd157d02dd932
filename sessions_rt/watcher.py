"""The ride watcher: every live ride evaluated every WATCH_INTERVAL_SECONDS, by one watcher.

``manage.py watch_rides`` runs one; run several, on several hosts, for availability. Each
ride is leased to one watcher at a time (store.leases); the holder renews its leases every
tick and evaluates its rides, the others skip them. A watcher that stops releases its leases
at once; one that dies loses them after WATCH_LEASE_SECONDS, and whichever watcher tries
next takes the ride over. The rules keep no state (safety_rules.py), so the new holder
decides exactly what the old one would have.

A watcher remembers which alerts of its rides are open (read from PostgreSQL as it takes a
ride, then kept up to date by what it raises and resolves) so that a condition that lasts
costs no query a tick. That memory is only a saving: alert_raise is idempotent, one open
alert per (ride, rider, kind) held by a unique constraint, so two watchers that briefly
believe they hold the same ride (a lease lapsed mid-tick) still raise one alert.
"""

import dataclasses
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from rooms.alert_escalation import alerts_escalate_due
from rooms.alerts import alert_raise, alerts_raise_due, alerts_resolve_condition
from rooms.errors import NotInRoom, RoomInactive, RoomNotFound
from sessions_rt.errors import RealtimeUnavailable
from sessions_rt.safety_rules import Alarm, Clear, Thresholds, evaluate, riders_needing_trails
from sessions_rt.selectors import ride_open_watched_alerts, ride_watch_thresholds
from sessions_rt.store.keys import reconnect_grace_seconds
from sessions_rt.store.leases import RideLease, watched_room_ids
from sessions_rt.store.trail import ride_live_state, ride_trails

logger = logging.getLogger(__name__)

WATCH_INTERVAL_SECONDS = 2
# A ride's thresholds are read again this often: a change made over REST applies within it.
THRESHOLDS_REFRESH_SECONDS = 30


def watch_interval_seconds() -> int:
    return getattr(settings, "WATCH_INTERVAL_SECONDS", WATCH_INTERVAL_SECONDS)


@dataclass
class _HeldRide:
    lease: RideLease
    open_alerts: set[tuple[str, str]]
    thresholds: Thresholds
    thresholds_read_at: float


@dataclass
class TickReport:
    """What one tick did, for the log and the tests."""

    held: int = 0
    evaluated: int = 0
    raised: list[tuple[str, str, str]] = field(default_factory=list)
    resolved: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0


class RideWatcher:
    """One watcher process's rides and its tick."""

    def __init__(self) -> None:
        self._held: dict[str, _HeldRide] = {}

    @property
    def held_room_ids(self) -> list[str]:
        return sorted(self._held)

    def tick(self, *, now: datetime | None = None) -> TickReport:
        """Renew or take the leases of the live rides, evaluate the ones held, raise and
        resolve their alerts, then open the SOS alerts whose countdown ended and write the
        emergency contacts' notices now due (both safe on every watcher at once)."""
        started = time.perf_counter()
        report = TickReport()
        now = now or timezone.now()
        live = set(watched_room_ids())
        for room_id in [room for room in self._held if room not in live]:
            self._held.pop(room_id).lease.release()
        for room_id in sorted(live):
            held = self._hold(room_id)
            if held is None:
                continue
            try:
                self._evaluate(room_id, held, now, report)
            except RealtimeUnavailable:
                raise
            except Exception:
                # One ride's failure (a row gone mid-tick) must not stop the watch of the rest.
                logger.exception("watch: evaluating ride %s failed", room_id)
        report.held = len(self._held)
        alerts_raise_due(now=now)
        alerts_escalate_due(now=now)
        report.seconds = time.perf_counter() - started
        return report

    def release_all(self) -> None:
        """Give up every ride, for another watcher to take at its next tick."""
        for held in self._held.values():
            try:
                held.lease.release()
            except RealtimeUnavailable:
                # They lapse by themselves after the lease time.
                break
        self._held.clear()

    def _hold(self, room_id: str) -> _HeldRide | None:
        held = self._held.get(room_id)
        if held is not None:
            if held.lease.renew():
                return held
            logger.info("watch: lease of ride %s lapsed", room_id)
            del self._held[room_id]
            return None
        lease = RideLease(room_id)
        if not lease.take():
            return None
        thresholds = ride_watch_thresholds(room_id=room_id, grace_seconds=reconnect_grace_seconds())
        if thresholds is None:
            lease.release()
            return None
        held = _HeldRide(
            lease=lease,
            open_alerts=ride_open_watched_alerts(room_id=room_id),
            thresholds=thresholds,
            thresholds_read_at=time.monotonic(),
        )
        self._held[room_id] = held
        logger.info("watch: took ride %s", room_id)
        return held

    def _evaluate(self, room_id: str, held: _HeldRide, now: datetime, report: TickReport) -> None:
        if time.monotonic() - held.thresholds_read_at > THRESHOLDS_REFRESH_SECONDS:
            fresh = ride_watch_thresholds(room_id=room_id, grace_seconds=reconnect_grace_seconds())
            if fresh is not None:
                held.thresholds = fresh
            held.thresholds_read_at = time.monotonic()
        state = ride_live_state(room_id, now=now)
        if state is None:
            return
        needed = riders_needing_trails(state, held.thresholds, held.open_alerts)
        if needed:
            state = dataclasses.replace(state, trails=ride_trails(room_id, needed))
        verdict = evaluate(state, held.thresholds, held.open_alerts)
        report.evaluated += 1
        for alarm in verdict.alarms:
            if (alarm.rider_id, alarm.kind) not in held.open_alerts:
                self._raise(room_id, alarm, held, report)
        for clear in verdict.clears:
            if (clear.rider_id, clear.kind) in held.open_alerts:
                self._resolve(room_id, clear, held, report)

    def _raise(self, room_id: str, alarm: Alarm, held: _HeldRide, report: TickReport) -> None:
        try:
            _, created = alert_raise(
                room_id=uuid.UUID(room_id),
                rider_id=uuid.UUID(alarm.rider_id),
                kind=alarm.kind,
                position=alarm.position,
                trail=alarm.trail,
                details=alarm.details,
            )
        except (NotInRoom, RoomInactive, RoomNotFound):
            # The rider left, or the ride ended, since the live state was read: the next
            # tick reads a state without them.
            return
        held.open_alerts.add((alarm.rider_id, alarm.kind))
        if created:
            report.raised.append((room_id, alarm.rider_id, alarm.kind))
            logger.info(
                "watch: %s alert raised for rider %s in ride %s",
                alarm.kind,
                alarm.rider_id,
                room_id,
            )

    def _resolve(self, room_id: str, clear: Clear, held: _HeldRide, report: TickReport) -> None:
        resolved = alerts_resolve_condition(
            room_id=uuid.UUID(room_id),
            rider_id=uuid.UUID(clear.rider_id),
            kind=clear.kind,
            resolution=clear.resolution,
        )
        held.open_alerts.discard((clear.rider_id, clear.kind))
        if resolved is not None:
            report.resolved.append((room_id, clear.rider_id, clear.kind))


def watch_rides(*, stop: threading.Event, interval: float | None = None) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set, then release every lease."""
    watcher = RideWatcher()
    period = interval if interval is not None else watch_interval_seconds()
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                watcher.tick()
            except RealtimeUnavailable:
                # Leases may lapse meanwhile; the rides are taken again when Redis is back.
                logger.warning("watch: live state unavailable; retrying next tick")
            except Exception:
                logger.exception("watch: tick failed")
            finally:
                close_old_connections()
            stop.wait(max(0.0, period - (time.monotonic() - started)))
    finally:
        watcher.release_all()
