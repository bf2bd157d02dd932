from datetime import date, timedelta

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin_console import ConsoleModelAdmin, UncountedPaginationMixin, json_table
from config.errors import DomainError
from riders.selectors import rider_find_by_email, rider_find_by_username
from rooms.selectors import normalize_room_code
from telemetry.models import ConnectionLog
from telemetry.partitions import day_start, partitions

SUMMARY_METRICS = (
    ("rtt_ms", "rtt {} ms"),
    ("packet_loss_pct", "loss {} %"),
    ("jitter_ms", "jitter {} ms"),
    ("network_type", "{}"),
    ("reason", "{}"),
)


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
            code = normalize_room_code(self.value())
        except DomainError as exc:
            messages.warning(request, exc.message)
            return queryset.none()
        return queryset.filter(room__code=code)


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
        "metrics_table",
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
        metrics = log.metrics
        if not isinstance(metrics, dict):
            return "malformed"
        shown = [
            template.format(metrics[key]) for key, template in SUMMARY_METRICS if key in metrics
        ]
        return " · ".join(shown) or "—"

    @admin.display(description="metrics")
    def metrics_table(self, log):
        return json_table(log.metrics)
