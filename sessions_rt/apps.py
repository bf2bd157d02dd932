from django.apps import AppConfig

from config.domain_events import subscribe
from riders.events import RiderSharingChanged
from rooms.events import (
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    RideEnded,
    RiderRemovedFromRide,
)


class SessionsRtConfig(AppConfig):
    name = "sessions_rt"
    verbose_name = "Real-time sessions"

    def ready(self):
        # The live layer hears of committed membership changes; rooms never imports it.
        subscribe(RiderRemovedFromRide, _rider_removed_from_ride)
        subscribe(RideEnded, _ride_ended)
        subscribe(RiderSharingChanged, _rider_sharing_changed)
        # Ride alerts reach the phones in the ride's event sequence.
        subscribe(AlertRaised, _alert_raised)
        subscribe(AlertAcknowledged, _alert_acknowledged)
        subscribe(AlertResolved, _alert_resolved)


# sessions_rt.services imports models, which cannot be imported while this module loads.


def _rider_removed_from_ride(event: RiderRemovedFromRide) -> None:
    from sessions_rt import services

    services.realtime_rider_removed(
        room_id=event.room_id, rider_id=event.rider_id, reason=event.reason
    )


def _ride_ended(event: RideEnded) -> None:
    from sessions_rt import services

    services.realtime_room_closed(room_id=event.room_id)


def _rider_sharing_changed(event: RiderSharingChanged) -> None:
    from sessions_rt import services

    services.realtime_sharing_changed(
        rider_id=event.rider_id,
        share_battery=event.share_battery,
        share_network=event.share_network,
    )


def _alert_raised(event: AlertRaised) -> None:
    from sessions_rt import services

    services.realtime_alert_raised(event=event)


def _alert_acknowledged(event: AlertAcknowledged) -> None:
    from sessions_rt import services

    services.realtime_alert_acknowledged(event=event)


def _alert_resolved(event: AlertResolved) -> None:
    from sessions_rt import services

    services.realtime_alert_resolved(event=event)
