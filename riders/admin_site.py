"""The support console's admin site: Django's, with the staff's own password change going
through the rider service, so it is checked and audited like a change made in the app, and
its log-in counted in the API's log-in rate limits."""

import math
import zoneinfo
from functools import update_wrapper

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from config.admin_console import console_time
from riders.api.throttles import credential_attempt_wait
from riders.errors import PasswordAttemptsLimited, WrongPassword
from riders.roles import ROLE_PERMISSIONS, roles_with_permission
from riders.selectors import audit_entries_about, audit_entries_by_actor
from riders.services import (
    rider_change_password,
    rider_check_current_password,
    rider_set_staff_time_zone,
    staff_time_zones,
)


class AuditedPasswordChangeForm(PasswordChangeForm):
    def clean_old_password(self):
        # The rider service's check, so wrong current passwords here count in the same
        # per-account window as the app's password change.
        old_password = self.cleaned_data["old_password"]
        try:
            rider_check_current_password(rider=self.user, password=old_password)
        except WrongPassword:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            ) from None
        except PasswordAttemptsLimited as exc:
            raise ValidationError(
                f"Too many wrong passwords; try again in {exc.retry_after_seconds} seconds.",
                code="rate_limited",
            ) from None
        return old_password

    def save(self, commit=True):
        return rider_change_password(
            rider=self.user,
            current_password=self.cleaned_data["old_password"],
            new_password=self.cleaned_data["new_password1"],
        )


def staff_zone(user) -> zoneinfo.ZoneInfo:
    """The zone a staff member reads times in: their own setting, UTC without one."""
    name = getattr(user, "staff_time_zone", "")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return zoneinfo.ZoneInfo("UTC")


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label="Your time zone", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [
            ("", "UTC"),
            *((z, z) for z in sorted(staff_time_zones())),
        ]


def _same_site_path(request, target: str) -> str:
    """Where to go back to: a path of this site, never another host."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


# The index's groups, in the order support works through them: each page's model, by label.
# A page of a model not named here goes into the group its ModelAdmin names in
# ``console_group`` (the alerts console's pages say "Alerts"), else into its app's own.
CONSOLE_GROUPS = (
    ("Rides", ("rooms.room", "rooms.roomparticipant")),
    ("Riders", ("riders.rider",)),
    ("Quality", ("telemetry.connectionlog",)),
    ("Alerts", ()),
    ("Audit", ("riders.auditentry",)),
)


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Convoy support console"
    site_title = "Convoy support"
    index_title = "Riders, rides and their connections"
    # There is no public site to view: the console is the only web page staff use.
    site_url = None

    def admin_view(self, view, cacheable=False):
        """Every console page in the staff member's own time zone, rendered inside it (a
        template response renders after the view returns, so it is rendered here)."""
        inner = super().admin_view(view, cacheable)

        def in_staff_zone(request, *args, **kwargs):
            with timezone.override(staff_zone(request.user)):
                response = inner(request, *args, **kwargs)
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
                return response

        return update_wrapper(in_staff_zone, inner)

    def each_context(self, request):
        context = super().each_context(request)
        context["staff_time_zone"] = timezone.get_current_timezone_name()
        return context

    index_template = "admin/console_index.html"

    def get_app_list(self, request, app_label=None):
        """The index and the side bar grouped by the work (Rides, Riders, Quality, Alerts,
        Audit), not by the apps that happen to hold the models."""
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        group_of = {label: name for name, labels in CONSOLE_GROUPS for label in labels}
        groups: dict[str, dict] = {}
        for app in apps:
            for model in app["models"]:
                model_admin = self._registry.get(model["model"])
                name = group_of.get(model["model"]._meta.label_lower) or getattr(
                    model_admin, "console_group", app["name"]
                )
                group = groups.setdefault(
                    name,
                    {
                        "name": name,
                        "app_label": name.lower().replace(" ", "-"),
                        "app_url": model["admin_url"],
                        "has_module_perms": True,
                        "models": [],
                    },
                )
                group["models"].append(model)
        order = [name for name, _ in CONSOLE_GROUPS]
        return sorted(
            groups.values(),
            key=lambda g: (
                order.index(g["name"]) if g["name"] in order else order.index("Audit") - 0.5
            ),
        )

    def index(self, request, extra_context=None):
        recent = [
            {"when": console_time(entry.created_at), "entry": entry}
            for entry in audit_entries_by_actor(actor=request.user, limit=10)
        ]
        return super().index(request, {"console_recent": recent, **(extra_context or {})})

    def audit_history(self, obj) -> list:
        """The audit entries about a ride or a rider, for its History page."""
        return audit_entries_about(target_type=obj._meta.label_lower, target_id=str(obj.pk))

    def get_urls(self):
        own = [path("time-zone/", self.admin_view(self.time_zone_view), name="time_zone")]
        return own + super().get_urls()

    def time_zone_view(self, request):
        """The staff member's own setting: which zone the console shows times in."""
        current = getattr(request.user, "staff_time_zone", "")
        form = TimeZoneForm(request.POST or None, initial={"time_zone": current})
        if request.method == "POST" and form.is_valid():
            rider_set_staff_time_zone(rider=request.user, time_zone=form.cleaned_data["time_zone"])
            messages.success(
                request, f"Times are now shown in {form.cleaned_data['time_zone'] or 'UTC'}."
            )
            return redirect(_same_site_path(request, request.POST.get("next", "")))
        context = {
            **self.each_context(request),
            "title": "Your time zone",
            "form": form,
            "next": request.GET.get("next", ""),
        }
        status = 400 if form.is_bound else 200
        return TemplateResponse(request, "admin/console_time_zone.html", context, status=status)

    def password_change(self, request, extra_context=None):
        request.current_app = self.name
        return PasswordChangeView.as_view(
            form_class=AuditedPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
            template_name=self.password_change_template or "registration/password_change_form.html",
        )(request)

    def refused(self, request, *, permission: str, doing: str, back_to=None):
        """A 403 that says which role may do this and links back, in the console's style."""
        needed = roles_with_permission(permission)
        own = [group.name for group in request.user.groups.all() if group.name in ROLE_PERMISSIONS]
        context = {
            **self.each_context(request),
            "title": "Not allowed",
            "doing": doing,
            "needed": " or ".join(f"the {name} role" for name in needed) or "a superuser",
            "needed_short": " or ".join(needed) or "superuser",
            "own_roles": own,
            "back_to": back_to or reverse("admin:index", current_app=self.name),
        }
        return TemplateResponse(request, "admin/console_refused.html", context, status=403)

    def login(self, request, extra_context=None):
        # Each posted attempt counts in the same windows (per address, per account) as the
        # API's log-in, so guesses split between the two add up; while either is full the
        # form is not even checked, so the right password does not get in either.
        if request.method == "POST":
            wait = credential_attempt_wait(request)
            if wait is not None:
                seconds = max(math.ceil(wait), 1)
                response = TemplateResponse(
                    request,
                    "admin/console_login_limited.html",
                    {
                        **self.each_context(request),
                        "title": "Log in",
                        "retry_after_seconds": seconds,
                    },
                    status=429,
                )
                response["Retry-After"] = str(seconds)
                return response
        return super().login(request, extra_context)
