from datetime import UTC, datetime, timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import F
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from config.admin_console import (
    SEARCH_MAX_CHARS,
    ConfirmedActionsMixin,
    ConsoleModelAdmin,
    ConsoleTimesMixin,
    confirmed_bulk_action,
    console_time,
    parse_console_time,
)
from config.errors import DomainError
from config.text import has_forbidden_characters
from riders.models import Rider
from riders.selectors import rider_find_by_login
from rooms.models import Room, RoomParticipant
from rooms.selectors import room_get_by_code, room_list_for_support, room_riders_ever
from rooms.services import participant_readmit, participant_remove, room_deactivate
from sessions_rt.errors import RealtimeUnavailable
from sessions_rt.selectors import live_room_members
from telemetry.admin import log_window_url
from telemetry.charts import ChartUnavailable, room_quality_chart
from telemetry.selectors import MAX_STATS_WINDOW, connection_log_span_for_room
from telemetry.timelines import ride_timeline

# A WebRTC link still checking ICE candidates after this long is not going to connect by
# itself: the live panel makes it stand out.
ICE_CHECKING_STUCK = timedelta(seconds=10)


def _older_than(iso: str, moment) -> bool:
    try:
        return datetime.fromisoformat(iso) < moment
    except (TypeError, ValueError):
        return False


def _iso_shown(iso: str | None) -> str:
    """A time the live state holds as ISO text, in the console's one format."""
    try:
        return console_time(datetime.fromisoformat(iso)) if iso else "—"
    except ValueError:
        return iso or "—"


def _window_param(moment, *, local: bool = False) -> str:
    if local:
        return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


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


class ParticipantsInline(ConsoleTimesMixin, admin.TabularInline):
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

    # Memberships, not phones online: the ride page tells joined, live and reconnecting apart.
    @admin.display(description="joined now", ordering="active_participants")
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
            # The search box on every console page (admin/base_site.html) answers here.
            path(
                "find/",
                self.admin_site.admin_view(self.console_search_view),
                name="console_search",
            ),
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
            context.update(self._timeline_panel(request, room))
            context["can_end_ride"] = self.has_deactivate_permission(request)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _refused(self, request, room, *, permission: str, doing: str):
        return self.refused(
            request,
            permission=permission,
            doing=doing,
            back_to=reverse("admin:rooms_room_change", args=[room.pk]),
        )

    def end_ride_view(self, request, object_id):
        room = self.object_for_action(request, object_id)
        if not self.has_deactivate_permission(request):
            return self._refused(
                request, room, permission="rooms.deactivate_room", doing="end rides"
            )
        if request.method != "POST" and not room.is_active:
            ended = room.deactivated_at
            return self.already_done(
                request,
                room,
                title="End this ride",
                message=f"The ride {room} has already ended"
                + (f" (at {ended:%Y-%m-%d %H:%M:%S} UTC)." if ended else "."),
            )
        return self.confirmed_action(
            request,
            room,
            lambda reason: room_deactivate(room=room, actor=request.user, reason=reason),
            done=f"Ended the ride {room}; its riders were disconnected.",
            title="End this ride",
            question=f"End the ride {room}?",
            consequence="Every rider in it is disconnected at once and nobody can join it again.",
            confirm_label="Yes, end the ride",
        )

    def remove_rider_view(self, request, object_id, rider_id):
        room = self.object_for_action(request, object_id)
        if not request.user.has_perm("rooms.remove_participant"):
            return self._refused(
                request, room, permission="rooms.remove_participant", doing="remove riders"
            )
        rider = Rider.objects.filter(pk=rider_id).first()
        if rider is None:
            raise Http404("No such rider.")
        return self.confirmed_action(
            request,
            room,
            lambda reason: participant_remove(
                room=room, rider=rider, actor=request.user, reason=reason
            ),
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
            return self._refused(
                request,
                room,
                permission="rooms.remove_participant",
                doing="let removed riders back in",
            )
        rider = Rider.objects.filter(pk=rider_id).first()
        if rider is None:
            raise Http404("No such rider.")
        return self.confirmed_action(
            request,
            room,
            lambda reason: participant_readmit(
                room=room, rider=rider, actor=request.user, reason=reason
            ),
            done=f"{rider} may join {room} again.",
            title="Let a removed rider back in",
            question=f"Let {rider} join the ride {room} again?",
            consequence="They are not put back in the ride: they may join it again with the "
            "code while it lasts.",
            confirm_label=f"Yes, let {rider} back in",
        )

    def console_search_view(self, request):
        """Username, email or ride code, straight to its page; anything else lists the riders
        whose username or email contains it."""
        term = request.GET.get("q", "")
        term = "".join(" " if has_forbidden_characters(ch) else ch for ch in term)
        term = term.strip()[:SEARCH_MAX_CHARS]
        if not term:
            return redirect("admin:index")
        room = None
        try:
            room = room_get_by_code(code=term)
        except DomainError:
            room = None
        rider = rider_find_by_login(identifier=term)
        if room is not None and self.has_view_permission(request, room):
            if rider is not None:
                messages.info(
                    request,
                    format_html(
                        'The rider <a href="{}">{}</a> has that name too.',
                        reverse("admin:riders_rider_change", args=[rider.pk]),
                        rider,
                    ),
                )
            return redirect("admin:rooms_room_change", room.pk)
        if rider is not None:
            return redirect("admin:riders_rider_change", rider.pk)
        messages.info(
            request,
            f"No rider has the username or email {term[:64]!r} and no ride has that code; "
            "riders whose username or email contains it are listed below.",
        )
        return redirect(reverse("admin:riders_rider_changelist") + "?" + urlencode({"q": term}))

    def _live_panel(self, room):
        try:
            members = live_room_members(room=room)
        except RealtimeUnavailable:
            return {"live_members": [], "live_unavailable": True}
        now = timezone.now()
        rows = []
        stuck = 0
        for member in members:
            links = []
            for link in member.links:
                is_stuck = link.ice_state == "checking" and _older_than(
                    link.changed_at, now - ICE_CHECKING_STUCK
                )
                stuck += is_stuck
                links.append(
                    {"link": link, "stuck": is_stuck, "since": _iso_shown(link.changed_at)}
                )
            rows.append(
                {"member": member, "links": links, "last_seen": _iso_shown(member.last_seen)}
            )
        reconnecting = sum(1 for m in members if m.status == "reconnecting")
        return {
            "live_members": rows,
            "live_unavailable": False,
            "riding_now": {
                "joined": room.active_participants,
                "live": len(members) - reconnecting,
                "reconnecting": reconnecting,
                "stuck": stuck,
            },
        }

    def _timeline_panel(self, request, room):
        """One timeline per rider; ``tl_from`` / ``tl_to`` zoom to a window (the staff
        member's zone), ``tl_rider`` shows one rider."""
        span = connection_log_span_for_room(room=room)
        riders = room_riders_ever(room=room)
        if span is None:
            return {"timeline": None, "timeline_riders": riders}
        now = timezone.now()
        until = max(room.deactivated_at or now, span[1]) + timedelta(seconds=1)
        since = max(min(room.created_at, span[0]), until - MAX_STATS_WINDOW)
        chosen = {}
        for name in ("tl_from", "tl_to"):
            raw = request.GET.get(name, "")
            if raw:
                moment = parse_console_time(raw)
                if moment is None:
                    self.message_user(
                        request,
                        f"{raw[:40]!r} is not a time (YYYY-MM-DD HH:MM[:SS]); the whole ride "
                        "is shown.",
                        messages.WARNING,
                    )
                    chosen = {}
                    break
                chosen[name] = moment
        since, until = chosen.get("tl_from", since), chosen.get("tl_to", until)
        if until - since > MAX_STATS_WINDOW or until <= since:
            self.message_user(
                request,
                "A timeline window runs forward and spans at most "
                f"{MAX_STATS_WINDOW.days} days; the whole ride is shown.",
                messages.WARNING,
            )
            until = max(room.deactivated_at or now, span[1]) + timedelta(seconds=1)
            since = max(min(room.created_at, span[0]), until - MAX_STATS_WINDOW)
        rider_id = request.GET.get("tl_rider") or None
        if rider_id is not None and rider_id not in {str(pk) for pk, _ in riders}:
            self.message_user(request, "That rider has not been in this ride.", messages.WARNING)
            rider_id = None

        def window_url(start, end, username):
            return log_window_url(start=start, end=end, rider=username, ride=room.code)

        timeline = ride_timeline(
            room=room, since=since, until=until, window_url=window_url, rider_id=rider_id
        )
        page = reverse("admin:rooms_room_change", args=[room.pk])
        zooms = {
            entry.rider_id: page
            + "?"
            + urlencode(
                {
                    "tl_from": _window_param(entry.first - timedelta(seconds=30)),
                    "tl_to": _window_param(entry.last + timedelta(seconds=30)),
                    "tl_rider": entry.rider_id,
                }
            )
            for entry in timeline.riders
        }
        return {
            "timeline": timeline,
            "timeline_rows": [
                {
                    "entry": entry,
                    "zoom": zooms[entry.rider_id],
                    "rider_url": reverse("admin:riders_rider_change", args=[entry.rider_id]),
                }
                for entry in timeline.riders
            ],
            "timeline_riders": [(str(pk), name) for pk, name in riders],
            "timeline_rider": rider_id or "",
            "timeline_from": _window_param(since, local=True),
            "timeline_to": _window_param(until, local=True),
            "timeline_since": console_time(since),
            "timeline_until": console_time(until),
            "timeline_logs": log_window_url(start=since, end=until, ride=room.code),
        }

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
        return confirmed_bulk_action(
            self,
            request,
            queryset,
            lambda room, reason: room_deactivate(room=room, actor=request.user, reason=reason),
            describe=str,
            succeeded="Ended {count} ride(s); their riders were disconnected.",
            title="End selected rides",
            question="End {count} ride(s)?",
            consequence="Every rider in them is disconnected at once and nobody can join them "
            "again.",
            confirm_label="Yes, end {count} ride(s)",
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
        return confirmed_bulk_action(
            self,
            request,
            queryset.select_related("room", "user"),
            lambda p, reason: participant_remove(
                room=p.room, rider=p.user, actor=request.user, reason=reason
            ),
            describe=lambda p: f"{p.user} in {p.room}",
            succeeded="Removed {count} rider(s); their phones were disconnected from the ride.",
            title="Remove selected riders from their ride",
            question="Remove {count} rider(s) from their ride?",
            consequence="Each phone is disconnected from its ride at once, and none can join "
            "that ride again until its leader or support lets them back in.",
            confirm_label="Yes, remove {count} rider(s)",
        )


# The alert and webhook pages live in modules of their own, registered on import.
from rooms import admin_alerts, admin_webhooks  # noqa: E402, F401
