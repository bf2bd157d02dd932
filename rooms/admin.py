from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import F
from django.urls import reverse
from django.utils.html import format_html

from config.admin_console import ConsoleModelAdmin, apply_to_each
from rooms.models import Room, RoomParticipant
from rooms.selectors import room_list_for_support
from rooms.services import participant_remove, room_deactivate
from sessions_rt.errors import RealtimeUnavailable
from sessions_rt.selectors import live_room_members
from telemetry.charts import ChartUnavailable, room_quality_chart


def rider_link(rider):
    if rider is None:
        return "—"
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:riders_rider_change", args=[rider.pk]), rider
    )


class RoomFullFilter(admin.SimpleListFilter):
    title = "capacity"
    parameter_name = "full"

    def lookups(self, request, model_admin):
        return (("yes", "Full"), ("no", "Has free places"))

    def queryset(self, request, queryset):
        # active_participants is the annotation of room_list_for_support.
        if self.value() == "yes":
            return queryset.filter(active_participants__gte=F("max_participants"))
        if self.value() == "no":
            return queryset.filter(active_participants__lt=F("max_participants"))
        return queryset


class ParticipantsInline(admin.TabularInline):
    """Everyone who has been in the ride, those riding now first."""

    model = RoomParticipant
    fields = ("rider", "joined_at", "left_at", "is_active")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("user").order_by("-is_active", "joined_at")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="rider")
    def rider(self, participant):
        return rider_link(participant.user)


@admin.register(Room)
class RoomAdmin(ConsoleModelAdmin):
    list_display = (
        "code",
        "name",
        "creator_link",
        "live_participants",
        "max_participants",
        "is_active",
        "created_at",
    )
    list_display_links = ("code", "name")
    search_fields = ("code", "name", "creator__username")
    search_help_text = "Ride code, ride name or the username of who opened it."
    list_filter = ("is_active", ("created_at", admin.DateFieldListFilter), RoomFullFilter)
    list_select_related = ("creator",)
    ordering = ("-created_at",)
    fields = (
        "code",
        "name",
        "creator_link",
        "live_participants",
        "max_participants",
        "is_active",
        "created_at",
        "deactivated_at",
        "manage_participants",
    )
    readonly_fields = fields
    inlines = [ParticipantsInline]
    actions = ["deactivate_rooms"]
    change_form_template = "admin/rooms/room/change_form.html"

    def get_queryset(self, request):
        # The live participant count comes annotated, in the same query as the rooms.
        return room_list_for_support()

    @admin.display(description="opened by", ordering="creator__username")
    def creator_link(self, room):
        return rider_link(room.creator)

    @admin.display(description="riding now", ordering="active_participants")
    def live_participants(self, room):
        return room.active_participants

    @admin.display(description="participants")
    def manage_participants(self, room):
        url = reverse("admin:rooms_roomparticipant_changelist")
        return format_html(
            '<a href="{}?room__id__exact={}&amp;is_active__exact=1">'
            "Riders in this ride now (to remove one)</a>",
            url,
            room.pk,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        room = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if room is not None and self.has_view_permission(request, room):
            context.update(self._live_panel(room), **self._chart_panel(request, room))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _live_panel(self, room):
        try:
            return {"live_members": live_room_members(room=room), "live_unavailable": False}
        except RealtimeUnavailable:
            return {"live_members": [], "live_unavailable": True}

    def _chart_panel(self, request, room):
        try:
            return {"quality_chart": room_quality_chart(room=room)}
        except ChartUnavailable as exc:
            self.message_user(request, exc.message, messages.WARNING)
            return {"quality_chart": None}

    def has_deactivate_permission(self, request):
        return request.user.has_perm("rooms.deactivate_room")

    @admin.action(permissions=["deactivate"], description="End selected rides")
    def deactivate_rooms(self, request, queryset):
        apply_to_each(
            self,
            request,
            queryset,
            lambda room: room_deactivate(room=room, actor=request.user),
            describe=str,
            succeeded="Ended {count} ride(s); their riders were disconnected.",
        )


@admin.register(RoomParticipant)
class RoomParticipantAdmin(ConsoleModelAdmin):
    list_display = ("rider", "ride", "joined_at", "left_at", "is_active")
    list_filter = ("is_active", ("joined_at", admin.DateFieldListFilter))
    list_select_related = ("user", "room")
    search_fields = ("user__username", "room__code", "room__name")
    search_help_text = "Username, ride code or ride name."
    raw_id_fields = ("room", "user")
    ordering = ("-joined_at",)
    fields = ("rider", "ride", "joined_at", "left_at", "is_active")
    readonly_fields = fields
    actions = ["remove_participants"]

    @admin.display(description="rider", ordering="user__username")
    def rider(self, participant):
        return rider_link(participant.user)

    @admin.display(description="ride", ordering="room__code")
    def ride(self, participant):
        url = reverse("admin:rooms_room_change", args=[participant.room_id])
        return format_html('<a href="{}">{}</a>', url, participant.room)

    def has_remove_permission(self, request):
        return request.user.has_perm("rooms.remove_participant")

    @admin.action(permissions=["remove"], description="Remove selected riders from their ride")
    def remove_participants(self, request, queryset):
        apply_to_each(
            self,
            request,
            queryset.select_related("room", "user"),
            lambda p: participant_remove(room=p.room, rider=p.user, actor=request.user),
            describe=lambda p: f"{p.user} in {p.room}",
            succeeded="Removed {count} rider(s); their phones were disconnected from the ride.",
        )
