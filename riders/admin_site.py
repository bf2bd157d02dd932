"""The support console's admin site: Django's, with the staff's own password change going
through the rider service, so it is checked and audited like a change made in the app, and
its log-in counted in the API's log-in rate limits."""

import math

from django.contrib import admin
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse

from riders.api.throttles import credential_attempt_wait
from riders.errors import PasswordAttemptsLimited, WrongPassword
from riders.roles import ROLE_PERMISSIONS, roles_with_permission
from riders.services import rider_change_password, rider_check_current_password


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


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Convoy support console"
    site_title = "Convoy support"
    index_title = "Riders, rides and their connections"

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
