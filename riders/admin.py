from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from config.admin_console import (
    ConfirmedActionsMixin,
    ConsoleModelAdmin,
    ConsoleTimesMixin,
    confirmed_bulk_action,
    console_time,
    json_table,
)
from riders.models import AuditEntry, AuthToken, Rider
from riders.services import rider_reactivate
from rooms.models import RoomParticipant
from rooms.services import rider_deactivate
from telemetry.account_deletion import account_delete_by_staff
from telemetry.figures import figures_summary
from telemetry.selectors import connection_problems_for_rider


class RiderRoomsInline(ConsoleTimesMixin, admin.TabularInline):
    """The rides the rider has been in, most recent first."""

    model = RoomParticipant
    fk_name = "user"
    verbose_name = "ride"
    verbose_name_plural = "rides"
    fields = ("ride", "joined_at", "left_at", "is_active")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("room").order_by("-joined_at", "id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="ride")
    def ride(self, participant):
        url = reverse("admin:rooms_room_change", args=[participant.room_id])
        return format_html('<a href="{}">{}</a>', url, participant.room)


class RiderDevicesInline(ConsoleTimesMixin, admin.TabularInline):
    """The phones signed in to the account (never the token itself: only its first characters)."""

    model = AuthToken
    verbose_name = "signed-in device"
    verbose_name_plural = "signed-in devices"
    fields = (
        "device_name",
        "app_version",
        "key_prefix",
        "created_at",
        "last_used_at",
        "expires_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Rider)
class RiderAdmin(ConfirmedActionsMixin, ConsoleModelAdmin):
    list_display = ("username", "email", "display_name", "is_active", "is_staff", "created_at")
    # A deleted account shows its tombstone (deleted-…), a stand-in its anonymous-… name.
    # icontains: case-insensitive, and Django escapes % _ \ typed into the box.
    search_fields = ("username", "email")
    search_help_text = "Username or email, any letter case."
    list_filter = (
        "is_active",
        "is_staff",
        ("deleted_at", admin.EmptyFieldListFilter),
        "is_stand_in",
        ("created_at", admin.DateFieldListFilter),
    )
    ordering = ("username",)
    inlines = [RiderRoomsInline, RiderDevicesInline]
    actions = ["deactivate_riders", "reactivate_riders"]
    readonly_fields = (
        "username",
        "email",
        "email_verified_at",
        "display_name",
        "is_active",
        "is_staff",
        "staff_roles",
        "created_at",
        "last_login",
        "deleted_at",
        "is_stand_in",
        "activity",
        "recent_connection_problems",
        "password",
    )

    def get_fields(self, request, obj=None):
        fields = [name for name in self.readonly_fields if name != "password"]
        # Superusers aside, nobody sees even the hash of a password.
        if request.user.is_superuser:
            fields.append("password")
        return self.times_shown(fields)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="staff roles")
    def staff_roles(self, rider):
        names = [group.name for group in rider.groups.all()]
        return ", ".join(names) or "—"

    @admin.display(description="activity")
    def activity(self, rider):
        logs = reverse("admin:telemetry_connectionlog_changelist")
        rides = reverse("admin:rooms_roomparticipant_changelist")
        return format_html(
            '<a href="{}?{}" id="rider-logs">Connection logs of {}</a> · '
            '<a href="{}?user__id__exact={}" id="rider-rides">Rides of {}</a>',
            logs,
            urlencode({"rider": rider.email or rider.username}),
            rider,
            rides,
            rider.pk,
            rider,
        )

    @admin.display(description="recent connection problems")
    def recent_connection_problems(self, rider):
        problems = connection_problems_for_rider(rider=rider)
        if not problems:
            return "None reported."
        rows = format_html_join(
            "",
            '<tr class="convoy-problem"><td><a href="{}">{}</a></td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:telemetry_connectionlog_change", args=[log.pk]),
                    console_time(log.occurred_at),
                    log.get_event_type_display(),
                    format_html(
                        '<a href="{}">{}</a>',
                        reverse("admin:rooms_room_change", args=[log.room_id]),
                        log.room.code,
                    )
                    if log.room
                    else "—",
                    figures_summary(log.metrics),
                )
                for log in problems
            ),
        )
        return format_html(
            '<table class="convoy-problems"><thead><tr><th>when</th><th>event</th>'
            "<th>ride</th><th>figures</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self):
        own = [
            path(
                f"<path:object_id>/{slug}/",
                self.admin_site.admin_view(view),
                name=f"riders_rider_{name}",
            )
            for slug, name, view in (
                ("deactivate", "deactivate", self.deactivate_view),
                ("reactivate", "reactivate", self.reactivate_view),
                ("delete-account", "delete_account", self.delete_account_view),
            )
        ]
        return [*own, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        is_self = str(request.user.pk) == unquote(object_id)
        context = {
            **(extra_context or {}),
            # Nobody is offered to lock themselves out (the service refuses it too).
            "can_deactivate": self.has_deactivate_permission(request) and not is_self,
            "can_reactivate": self.has_deactivate_permission(request),
            "can_delete_account": self.has_delete_account_permission(request) and not is_self,
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _back_to_rider(self, rider):
        return reverse("admin:riders_rider_change", args=[rider.pk])

    def delete_account_view(self, request, object_id):
        rider = self.object_for_action(request, object_id)
        if not self.has_delete_account_permission(request):
            return self.refused(
                request,
                permission="riders.delete_rider",
                doing="delete accounts",
                back_to=self._back_to_rider(rider),
            )
        return self.confirmed_action(
            request,
            rider,
            lambda reason: account_delete_by_staff(rider=rider, actor=request.user, reason=reason),
            done="Deleted the account: it is now a tombstone with no personal data, signed "
            "out everywhere and out of its ride.",
            title="Delete this account",
            question=f"Delete the account of {rider} for good?",
            consequence="Their username, email and display name are erased and cannot be "
            "recovered; every device is signed out, they leave the ride they are in, and "
            "their rides and connection logs pass to an anonymous stand-in. This cannot be "
            "undone.",
            confirm_label=f"Yes, delete {rider}",
        )

    def has_delete_account_permission(self, request):
        # Django's own delete permission, held by Moderators; the console's pages still
        # delete nothing (ReadOnlyAdminMixin), only this action does, through the service.
        return request.user.has_perm("riders.delete_rider")

    def deactivate_view(self, request, object_id):
        rider = self.object_for_action(request, object_id)
        if not self.has_deactivate_permission(request):
            return self.refused(
                request,
                permission="riders.deactivate_rider",
                doing="deactivate riders",
                back_to=self._back_to_rider(rider),
            )
        if request.method != "POST" and not rider.is_active:
            return self.already_done(
                request,
                rider,
                title="Deactivate this rider",
                message=f"{rider} is already deactivated.",
            )
        return self.confirmed_action(
            request,
            rider,
            lambda reason: rider_deactivate(rider=rider, actor=request.user, reason=reason),
            done=f"Deactivated {rider}: signed out on every device and out of their ride.",
            title="Deactivate this rider",
            question=f"Deactivate the account of {rider}?",
            consequence="They can no longer log in, every device they use is signed out, and "
            "the ride they are in ends for them at once (their phone is told the account was "
            "deactivated). A moderator can reactivate the account later.",
            confirm_label=f"Yes, deactivate {rider}",
        )

    def reactivate_view(self, request, object_id):
        rider = self.object_for_action(request, object_id)
        if not self.has_deactivate_permission(request):
            return self.refused(
                request,
                permission="riders.deactivate_rider",
                doing="reactivate riders",
                back_to=self._back_to_rider(rider),
            )
        return self.confirmed_action(
            request,
            rider,
            lambda reason: rider_reactivate(rider=rider, actor=request.user, reason=reason),
            done=f"Reactivated {rider}: they can log in again.",
            title="Reactivate this rider",
            question=f"Reactivate the account of {rider}?",
            consequence="They can log in again (every device needs a new log-in) and join "
            "rides; a ride they were removed from still needs its leader or support to let "
            "them back in.",
            confirm_label=f"Yes, reactivate {rider}",
        )

    def has_deactivate_permission(self, request):
        return request.user.has_perm("riders.deactivate_rider")

    def has_reactivate_permission(self, request):
        return self.has_deactivate_permission(request)

    @admin.action(permissions=["deactivate"], description="Deactivate selected riders")
    def deactivate_riders(self, request, queryset):
        own = queryset.filter(pk=request.user.pk).exists()
        return confirmed_bulk_action(
            self,
            request,
            queryset.exclude(pk=request.user.pk),
            lambda rider, reason: rider_deactivate(rider=rider, actor=request.user, reason=reason),
            describe=str,
            succeeded="Deactivated {count} rider(s): signed out everywhere and out of their ride.",
            title="Deactivate selected riders",
            question="Deactivate {count} rider(s)?",
            consequence="They can no longer log in, every device they use is signed out, and "
            "the ride each is in ends for them at once.",
            confirm_label="Yes, deactivate {count} rider(s)",
            skipped="Your own account is among those selected; it is left out." if own else "",
        )

    @admin.action(permissions=["reactivate"], description="Reactivate selected riders")
    def reactivate_riders(self, request, queryset):
        return confirmed_bulk_action(
            self,
            request,
            queryset,
            lambda rider, reason: rider_reactivate(rider=rider, actor=request.user, reason=reason),
            describe=str,
            succeeded="Reactivated {count} rider(s): they can log in again.",
            title="Reactivate selected riders",
            question="Reactivate {count} rider(s)?",
            consequence="They can log in again (every device needs a new log-in) and join rides.",
            confirm_label="Yes, reactivate {count} rider(s)",
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(ConsoleModelAdmin):
    list_display = ("created_at", "action", "actor", "target", "target_type")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("actor",)
    search_fields = ("target_label", "target_id", "actor__username")
    search_help_text = "What was changed (a ride's name or code, a username) or who changed it."
    fields = (
        "created_at",
        "action",
        "actor",
        "target_type",
        "target_id",
        "target",
        "details_table",
    )
    readonly_fields = fields
    actions = None

    @admin.display(description="changed", ordering="target_label")
    def target(self, entry):
        """The label, linked to the changed object's page while it still exists."""
        app_label, _, model_name = entry.target_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model_name}_change", args=[entry.target_id])
        except NoReverseMatch:
            return entry.target_label
        return format_html('<a href="{}">{}</a>', url, entry.target_label)

    @admin.display(description="details")
    def details_table(self, entry):
        return json_table(entry.details)
