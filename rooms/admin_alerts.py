"""The console's ride alerts: every ride's, newest first, the open ones a filter away, and
the acknowledge and resolve actions for staff whose role handles alerts. Each change goes
through rooms.alerts, which records it in the audit trail and tells the ride."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from config.admin_console import ConsoleModelAdmin, apply_to_each
from rooms.alerts import alert_acknowledge, alert_resolve
from rooms.models import AlertResolution, RideAlert


def _rider_link(rider):
    if rider is None:
        return "—"
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:riders_rider_change", args=[rider.pk]), rider
    )


def _describe(alert: RideAlert) -> str:
    return f"{alert.get_kind_display()} alert of {alert.rider} in {alert.room}"


@admin.register(RideAlert)
class RideAlertAdmin(ConsoleModelAdmin):
    list_display = (
        "raised_at",
        "kind",
        "status",
        "rider_link",
        "ride",
        "acknowledged_by_link",
        "resolution",
        "resolved_at",
    )
    list_display_links = ("raised_at",)
    list_filter = ("status", "kind", ("raised_at", admin.DateFieldListFilter))
    list_select_related = ("rider", "room", "acknowledged_by", "resolved_by")
    search_fields = ("rider__username", "room__code")
    search_help_text = "Username of the rider in trouble, or the ride's code."
    ordering = ("-raised_at",)
    fields = (
        "kind",
        "status",
        "rider_link",
        "ride",
        "raised_at",
        "due_at",
        "lat",
        "lon",
        "speed_kmh",
        "heading_deg",
        "position_at",
        "trail",
        "details",
        "acknowledged_by_link",
        "acknowledged_at",
        "resolution",
        "resolved_by_link",
        "resolved_at",
    )
    readonly_fields = fields
    actions = ["acknowledge_alerts", "resolve_alerts_handled", "resolve_alerts_false_alarm"]

    @admin.display(description="rider", ordering="rider__username")
    def rider_link(self, alert):
        return _rider_link(alert.rider)

    @admin.display(description="ride", ordering="room__code")
    def ride(self, alert):
        url = reverse("admin:rooms_room_change", args=[alert.room_id])
        return format_html('<a href="{}">{}</a>', url, alert.room)

    @admin.display(description="acknowledged by")
    def acknowledged_by_link(self, alert):
        return _rider_link(alert.acknowledged_by)

    @admin.display(description="resolved by")
    def resolved_by_link(self, alert):
        if alert.resolved_at is not None and alert.resolved_by is None:
            return "the server"
        return _rider_link(alert.resolved_by)

    def has_handle_permission(self, request):
        return request.user.has_perm("rooms.handle_alert")

    @admin.action(permissions=["handle"], description="Acknowledge selected alerts")
    def acknowledge_alerts(self, request, queryset):
        apply_to_each(
            self,
            request,
            queryset.select_related("rider", "room"),
            lambda alert: alert_acknowledge(alert_id=alert.pk, room=alert.room, by=request.user),
            describe=_describe,
            succeeded="Acknowledged {count} alert(s); their rides were told.",
        )

    @admin.action(permissions=["handle"], description="Resolve selected alerts as handled")
    def resolve_alerts_handled(self, request, queryset):
        self._resolve(request, queryset, AlertResolution.HANDLED)

    @admin.action(permissions=["handle"], description="Resolve selected alerts as false alarms")
    def resolve_alerts_false_alarm(self, request, queryset):
        self._resolve(request, queryset, AlertResolution.FALSE_ALARM)

    def _resolve(self, request, queryset, resolution: str) -> None:
        apply_to_each(
            self,
            request,
            queryset.select_related("rider", "room"),
            lambda alert: alert_resolve(
                alert_id=alert.pk, room=alert.room, by=request.user, resolution=resolution
            ),
            describe=_describe,
            succeeded="Resolved {count} alert(s); their rides were told.",
        )
