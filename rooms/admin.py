from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html

from config.admin_console import ConfirmedActionsMixin, ConsoleModelAdmin, apply_to_each
from riders.models import Rider
from rooms.models import Room, RoomParticipant
from rooms.selectors import room_list_for_support
from rooms.services import participant_readmit, participant_remove, room_deactivate
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
    fields = ("rider", "joined_at", "left_at", "is_active", "removed_at", "remove")
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

    @admin.display(description="")
    def remove(self, participant):
        args = [participant.room_id, participant.user_id]
        if participant.is_active:
            url = reverse("admin:rooms_room_remove_rider", args=args)
            return format_html('<a href="{}" class="remove-rider">Remove from ride</a>', url)
        if participant.removed_at is not None:
            url = reverse("admin:rooms_room_readmit_rider", args=args)
            return format_html('<a href="{}" class="readmit-rider">Let back in</a>', url)
        return ""


@admin.register(Room)
class RoomAdmin(ConfirmedActionsMixin, ConsoleModelAdmin):
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

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/end/",
                self.admin_site.admin_view(self.end_ride_view),
                name="rooms_room_end",
            ),
            path(
                "<path:object_id>/remove/<uuid:rider_id>/",
                self.admin_site.admin_view(self.remove_rider_view),
                name="rooms_room_remove_rider",
            ),
            path(
                "<path:object_id>/readmit/<uuid:rider_id>/",
                self.admin_site.admin_view(self.readmit_rider_view),
                name="rooms_room_readmit_rider",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        room = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if room is not None and self.has_view_permission(request, room):
            context.update(self._live_panel(room), **self._chart_panel(request, room))
            context["can_end_ride"] = self.has_deactivate_permission(request)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def end_ride_view(self, request, object_id):
        room = self.object_for_action(request, object_id)
        if not self.has_deactivate_permission(request):
            raise PermissionDenied
        return self.confirmed_action(
            request,
            room,
            lambda: room_deactivate(room=room, actor=request.user),
            done=f"Ended the ride {room}; its riders were disconnected.",
            title="End this ride",
            question=f"End the ride {room}?",
            consequence="Every rider in it is disconnected at once and nobody can join it again.",
            confirm_label="Yes, end the ride",
        )

    def remove_rider_view(self, request, object_id, rider_id):
        room = self.object_for_action(request, object_id)
        if not request.user.has_perm("rooms.remove_participant"):
            raise PermissionDenied
        rider = Rider.objects.filter(pk=rider_id).first()
        if rider is None:
            raise Http404("No such rider.")
        return self.confirmed_action(
            request,
            room,
            lambda: participant_remove(room=room, rider=rider, actor=request.user),
            done=f"Removed {rider} from {room}; their phone was disconnected from the ride.",
            title="Remove a rider",
            question=f"Remove {rider} from the ride {room}?",
            consequence="Their phone is disconnected from the ride at once, and they cannot "
            "join it again until the ride's leader or support lets them back in.",
            confirm_label=f"Yes, remove {rider}",
        )

    def readmit_rider_view(self, request, object_id, rider_id):
        room = self.object_for_action(request, object_id)
        if not request.user.has_perm("rooms.remove_participant"):
            raise PermissionDenied
        rider = Rider.objects.filter(pk=rider_id).first()
        if rider is None:
            raise Http404("No such rider.")
        return self.confirmed_action(
            request,
            room,
            lambda: participant_readmit(room=room, rider=rider, actor=request.user),
            done=f"{rider} may join {room} again.",
            title="Let a removed rider back in",
            question=f"Let {rider} join the ride {room} again?",
            consequence="They are not put back in the ride: they may join it again with the "
            "code while it lasts.",
            confirm_label=f"Yes, let {rider} back in",
        )

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
    list_display = ("rider", "ride", "joined_at", "left_at", "is_active", "removed_at")
    list_filter = (
        "is_active",
        ("removed_at", admin.EmptyFieldListFilter),
        ("joined_at", admin.DateFieldListFilter),
    )
    list_select_related = ("user", "room")
    search_fields = ("user__username", "room__code", "room__name")
    search_help_text = "Username, ride code or ride name."
    raw_id_fields = ("room", "user")
    ordering = ("-joined_at",)
    fields = ("rider", "ride", "joined_at", "left_at", "is_active", "removed_at")
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


from rooms import admin_alerts  # noqa: E402, F401  (registers the ride alerts pages)
