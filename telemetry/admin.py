from datetime import UTC, date, datetime, timedelta

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from config.admin_console import (
    ConsoleModelAdmin,
    UncountedPaginationMixin,
    console_time,
    json_table,
    parse_console_time,
)
from config.errors import DomainError
from riders.selectors import rider_find_by_email, rider_find_by_username
from rooms.selectors import room_get_by_code
from telemetry.figures import figures_summary
from telemetry.models import ConnectionLog
from telemetry.partitions import day_start, partitions

# "The events around this one": the rider's logs this long before and after a log.
AROUND = timedelta(minutes=5)
WINDOW_FORMAT = "%Y-%m-%dT%H:%M:%S"


class InputFilter(admin.SimpleListFilter):
    """A text box in the filter sidebar, for choices too many to list (rides, riders)."""

    template = "admin/input_filter.html"
    placeholder = ""

    def lookups(self, request, model_admin):
        return ()

    def has_output(self):
        return True

    def choices(self, changelist):
        others = changelist.get_filters_params()
        others.pop(self.parameter_name, None)
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value(),
            "placeholder": self.placeholder,
            "other_params": [(name, value) for name, values in others.items() for value in values],
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class RideCodeFilter(InputFilter):
    title = "ride code"
    parameter_name = "ride"
    placeholder = "e.g. K7M2QX"

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            room = room_get_by_code(code=self.value())
        except DomainError as exc:
            messages.warning(request, exc.message)
            return queryset.none()
        # By the room's id, known when the query is planned: each day's share of
        # log_room_recent_idx is read newest first and merged, never a join sorted afterwards.
        return queryset.filter(room_id=room.pk)


class RiderUsernameFilter(InputFilter):
    title = "rider"
    parameter_name = "rider"
    placeholder = "username or email"

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        value = self.value()
        if "@" in value:
            rider = rider_find_by_email(email=value)
        else:
            rider = rider_find_by_username(username=value)
        if rider is None:
            messages.warning(request, f"No rider has the username or email {value[:64]!r}.")
            return queryset.none()
        return queryset.filter(user=rider)


class PartitionDayFilter(admin.SimpleListFilter):
    """Day by day, newest first: the console's date hierarchy over the table's daily
    partitions. The days come from PostgreSQL's catalog, never from the logs (Django's
    date_hierarchy would run SELECT DISTINCT over every row for its year and month links), and
    a chosen day reads that day's partition alone."""

    title = "day"
    parameter_name = "day"

    def lookups(self, request, model_admin):
        today = timezone.now().date()
        days = [
            part.start.date()
            for part in partitions()
            if not part.is_default and part.start.date() <= today
        ]
        return [(day.isoformat(), day.strftime("%a %d %b %Y")) for day in reversed(days)]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            day = date.fromisoformat(self.value())
        except ValueError:
            messages.warning(request, f"{self.value()[:32]!r} is not a day (YYYY-MM-DD).")
            return queryset.none()
        start = day_start(day)
        return queryset.filter(occurred_at__gte=start, occurred_at__lt=start + timedelta(days=1))


class TimeWindowFilter(admin.ListFilter):
    """From and to, to the second, in the staff member's time zone (an offset typed with the
    time wins): the (time) and (rider|ride, time) indexes answer it, and only the daily
    partitions of the window are read. Either end may be left open."""

    title = "time window"
    template = "admin/time_window_filter.html"
    parameters = ("from", "to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def choices(self, changelist):
        others = changelist.get_filters_params()
        for name in self.parameters:
            others.pop(name, None)
        yield {
            "from": self.used_parameters.get("from", ""),
            "to": self.used_parameters.get("to", ""),
            "zone": timezone.get_current_timezone_name(),
            "other_params": [(name, value) for name, values in others.items() for value in values],
            "clear_url": changelist.get_query_string(remove=list(self.parameters)),
        }

    def queryset(self, request, queryset):
        bounds = {}
        for name in self.parameters:
            raw = self.used_parameters.get(name)
            if not raw:
                continue
            moment = parse_console_time(raw)
            if moment is None:
                messages.warning(
                    request, f"{raw[:40]!r} is not a time (YYYY-MM-DD HH:MM[:SS]); nothing shown."
                )
                return queryset.none()
            bounds[name] = moment
        if "from" in bounds and "to" in bounds and bounds["from"] >= bounds["to"]:
            messages.warning(request, "The window ends before it starts; nothing shown.")
            return queryset.none()
        if "from" in bounds:
            queryset = queryset.filter(occurred_at__gte=bounds["from"])
        if "to" in bounds:
            queryset = queryset.filter(occurred_at__lt=bounds["to"])
        return queryset


def log_window_url(*, start: datetime, end: datetime, **filters: str) -> str:
    """The log list of a window, in UTC with its offset (so any staff member's zone reads it
    the same), with further filters (``rider``, ``ride``)."""
    query = {
        "from": start.astimezone(UTC).strftime(WINDOW_FORMAT) + "+00:00",
        "to": end.astimezone(UTC).strftime(WINDOW_FORMAT) + "+00:00",
        **filters,
    }
    return reverse("admin:telemetry_connectionlog_changelist") + "?" + urlencode(query)


@admin.register(ConnectionLog)
class ConnectionLogAdmin(UncountedPaginationMixin, ConsoleModelAdmin):
    """Millions of rows: no count, no search box; filters that hit the (room|rider, time) and
    (time) indexes. No date hierarchy: its year/month links run SELECT DISTINCT over every row
    of the table."""

    list_display = ("occurred_at", "event_type", "rider", "ride", "figures", "recorded_at")
    list_filter = (
        "event_type",
        RideCodeFilter,
        RiderUsernameFilter,
        TimeWindowFilter,
        PartitionDayFilter,
        ("occurred_at", admin.DateFieldListFilter),
    )
    list_select_related = ("user", "room")
    raw_id_fields = ("user", "room")
    # With the admin's -pk tie-breaker: ORDER BY occurred_at DESC, id DESC, log_recent_idx.
    ordering = ("-occurred_at",)
    sortable_by = ()
    fields = (
        "id",
        "occurred_at",
        "recorded_at",
        "event_type",
        "rider",
        "ride",
        "client_event_id",
        "figures",
        "metrics_table",
        "around",
    )
    readonly_fields = fields
    actions = None

    @admin.display(description="rider")
    def rider(self, log):
        url = reverse("admin:riders_rider_change", args=[log.user_id])
        return format_html('<a href="{}">{}</a>', url, log.user)

    @admin.display(description="ride")
    def ride(self, log):
        if log.room is None:
            return "—"
        url = reverse("admin:rooms_room_change", args=[log.room_id])
        return format_html('<a href="{}">{}</a>', url, log.room.code)

    @admin.display(description="figures")
    def figures(self, log):
        return figures_summary(log.metrics)

    @admin.display(description="stored figures")
    def metrics_table(self, log):
        return json_table(log.metrics)

    @admin.display(description="the events around this one")
    def around(self, log):
        start, end = log.occurred_at - AROUND, log.occurred_at + AROUND
        rider = log.user.email or log.user.username
        links = [
            format_html(
                '<a href="{}" id="events-around">events of {} from {} to {}</a>',
                log_window_url(start=start, end=end, rider=rider),
                log.user,
                console_time(start),
                console_time(end),
            )
        ]
        if log.room is not None:
            links.append(
                format_html(
                    '<a href="{}" id="ride-events-around">everyone in {} then</a>',
                    log_window_url(start=start, end=end, ride=log.room.code),
                    log.room.code,
                )
            )
        return format_html(" · ".join(["{}"] * len(links)), *links)

    def get_queryset(self, request):
        # The log's page shows its rider and ride too: one query, not three.
        return super().get_queryset(request).select_related("user", "room")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        log = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if log is not None:
            # "marco-v2 · Network changed", not "Change connection log".
            context["title"] = f"{log.user} · {log.get_event_type_display()}"
        return super().change_view(request, object_id, form_url, extra_context=context)
