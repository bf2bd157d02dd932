from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from config.admin_console import (
    ConfirmedActionsMixin,
    ConsoleModelAdmin,
    apply_to_each,
    json_table,
)
from riders.models import AuditEntry, AuthToken, Rider
from rooms.models import RoomParticipant
from rooms.services import rider_deactivate
from telemetry.account_deletion import account_delete_by_staff
from telemetry.selectors import connection_problems_for_rider


class RiderRoomsInline(admin.TabularInline):
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


class RiderDevicesInline(admin.TabularInline):
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
    actions = ["deactivate_riders"]
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
        "recent_connection_problems",
        "password",
    )

    def get_fields(self, request, obj=None):
        fields = [name for name in self.readonly_fields if name != "password"]
        # Superusers aside, nobody sees even the hash of a password.
        if request.user.is_superuser:
            fields.append("password")
        return fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="staff roles")
    def staff_roles(self, rider):
        names = [group.name for group in rider.groups.all()]
        return ", ".join(names) or "—"

    @admin.display(description="recent connection problems")
    def recent_connection_problems(self, rider):
        problems = connection_problems_for_rider(rider=rider)
        if not problems:
            return "None reported."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{log.occurred_at:%Y-%m-%d %H:%M:%S}",
                    log.get_event_type_display(),
                    log.room.code if log.room else "—",
                    json_table(log.metrics),
                )
                for log in problems
            ),
        )
        return format_html(
            '<table class="convoy-problems"><thead><tr><th>when (UTC)</th><th>event</th>'
            "<th>ride</th><th>figures</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self):
        deactivate = path(
            "<path:object_id>/deactivate/",
            self.admin_site.admin_view(self.deactivate_view),
            name="riders_rider_deactivate",
        )
        delete_account = path(
            "<path:object_id>/delete-account/",
            self.admin_site.admin_view(self.delete_account_view),
            name="riders_rider_delete_account",
        )
        return [deactivate, delete_account, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {
            **(extra_context or {}),
            "can_deactivate": self.has_deactivate_permission(request),
            "can_delete_account": self.has_delete_account_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def delete_account_view(self, request, object_id):
        rider = self.object_for_action(request, object_id)
        if not self.has_delete_account_permission(request):
            raise PermissionDenied
        return self.confirmed_action(
            request,
            rider,
            lambda: account_delete_by_staff(rider=rider, actor=request.user),
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
            raise PermissionDenied
        return self.confirmed_action(
            request,
            rider,
            lambda: rider_deactivate(rider=rider, actor=request.user),
            done=f"Deactivated {rider}: signed out on every device and out of their ride.",
            title="Deactivate this rider",
            question=f"Deactivate the account of {rider}?",
            consequence="They can no longer log in, every device they use is signed out, and "
            "the ride they are in ends for them at once.",
            confirm_label=f"Yes, deactivate {rider}",
        )

    def has_deactivate_permission(self, request):
        return request.user.has_perm("riders.deactivate_rider")

    @admin.action(permissions=["deactivate"], description="Deactivate selected riders")
    def deactivate_riders(self, request, queryset):
        apply_to_each(
            self,
            request,
            queryset,
            lambda rider: rider_deactivate(rider=rider, actor=request.user),
            describe=str,
            succeeded="Deactivated {count} rider(s): signed out everywhere and out of their ride.",
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
