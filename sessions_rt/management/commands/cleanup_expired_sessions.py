"""Take riders whose phones went quiet out of their live rooms, and say who."""

from django.core.management.base import BaseCommand, CommandError

from sessions_rt.errors import RealtimeUnavailable
from sessions_rt.services import realtime_expire_sessions


class Command(BaseCommand):
    help = (
        "Remove riders whose presence expired, or who stayed reconnecting past the grace "
        "period, from every live room (logged as member_left, reason timed_out). Safe to run "
        "on a schedule."
    )

    def handle(self, *args, **options):
        try:
            # Removes and broadcasts member_left to the rooms' sockets, on whatever worker.
            removed = realtime_expire_sessions()
        except RealtimeUnavailable as exc:
            raise CommandError(exc.message) from None
        if not removed:
            self.stdout.write("Nothing to remove.")
            return
        for event in removed:
            self.stdout.write(
                f"Removed rider {event.rider_id} from room {event.room_id} (timed out)."
            )
        rooms = len({event.room_id for event in removed})
        riders = "rider" if len(removed) == 1 else "riders"
        self.stdout.write(
            f"Removed {len(removed)} {riders} from {rooms} room{'s' if rooms != 1 else ''}."
        )
