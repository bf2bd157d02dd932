"""Give a rider a staff role of the admin console, or take it away."""

from django.core.management.base import BaseCommand, CommandError

from riders.roles import ROLE_NAMES
from riders.selectors import rider_find_by_email, rider_find_by_username
from riders.services import rider_set_staff_role

NO_ROLE = "none"


class Command(BaseCommand):
    help = (
        "Make a rider Support or Moderator staff of the admin console (or 'none' to take "
        "staff access away). Creates the role groups if they are missing; safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("rider", help="Username or email of the rider.")
        parser.add_argument("role", choices=[*ROLE_NAMES, NO_ROLE])

    def handle(self, *args, rider: str, role: str, **options):
        found = (
            rider_find_by_email(email=rider)
            if "@" in rider
            else rider_find_by_username(username=rider)
        )
        if found is None:
            raise CommandError(f"No rider has the username or email {rider!r}.")
        updated = rider_set_staff_role(
            rider=found, role=None if role == NO_ROLE else role, actor=None
        )
        if role == NO_ROLE:
            access = "keeps superuser access" if updated.is_superuser else "has no staff access"
            self.stdout.write(f"{updated.username} now {access}.")
        else:
            self.stdout.write(
                f"{updated.username} is now {ROLE_NAMES[role]} staff: they log in at /admin/ "
                "with their own password."
            )
