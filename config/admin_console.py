"""Plumbing every admin page of the console shares: guarded search, read-only pages, a
paginator that never counts a huge table, JSON shown as a table, and actions that call a
service per object (from a list, or from an object's page), each only after a confirmation
page that names what it acts on and asks for the reason the audit trail keeps, reporting the
outcome in the admin's messages."""

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage, Page, Paginator
from django.db import models
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from config.errors import DomainError
from config.text import REASON_MAX_CHARS, has_forbidden_characters

SEARCH_MAX_CHARS = 100


class GuardedSearchMixin:
    """Search that answers anything typed into the box with results or a message, never a 500.

    Django already escapes the LIKE wildcards % _ and \\; what is left to guard is length (a
    pasted paragraph becomes hundreds of OR'ed terms) and characters PostgreSQL refuses (NUL).
    """

    def get_search_results(self, request, queryset, search_term):
        if has_forbidden_characters(search_term):
            self.message_user(
                request,
                "The search contained control characters, which no name or code has; "
                "they were ignored.",
                messages.WARNING,
            )
            search_term = "".join(" " if has_forbidden_characters(ch) else ch for ch in search_term)
        if len(search_term) > SEARCH_MAX_CHARS:
            self.message_user(
                request,
                f"Searches use the first {SEARCH_MAX_CHARS} characters; the rest was ignored.",
                messages.WARNING,
            )
            search_term = search_term[:SEARCH_MAX_CHARS]
        return super().get_search_results(request, queryset, search_term)


class ReadOnlyAdminMixin:
    """Pages to look at: nobody adds, edits or deletes here, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def console_time(value: datetime | None) -> str:
    """Every time the console shows, in one format: to the second, in the staff member's own
    time zone (the one their request activated), with UTC beside it, e.g.
    ``2026-12-07 15:05:52 CET (14:05:52 UTC)``; the UTC date is added when it differs."""
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    local = timezone.localtime(value)
    iso = utc.isoformat(timespec="seconds")
    if timezone.get_current_timezone_name() == "UTC":
        return format_html('<time datetime="{}">{} UTC</time>', iso, utc.strftime(TIME_FORMAT))
    beside = utc.strftime("%H:%M:%S" if utc.date() == local.date() else TIME_FORMAT)
    return format_html(
        '<time datetime="{}">{} {}</time> <span class="convoy-utc">({} UTC)</span>',
        iso,
        local.strftime(TIME_FORMAT),
        local.tzname() or "",
        beside,
    )


def parse_console_time(raw: str) -> datetime | None:
    """A time typed into the console (YYYY-MM-DD HH:MM[:SS], a T for the space allowed), in the
    staff member's zone unless an offset is typed with it; None when it is not one."""
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


class ConsoleTimesMixin:
    """Date-time columns and fields of a console page shown with :func:`console_time` instead of
    Django's locale format (minutes only, one zone): each ``<name>`` that is a DateTimeField
    of the model is shown through a ``<name>__shown`` display of the same label and ordering."""

    model: type[models.Model]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_fields = {
            field.name: field
            for field in self.model._meta.get_fields()
            if isinstance(field, models.DateTimeField)
        }
        for name, field in self.time_fields.items():
            setattr(self, f"{name}__shown", _time_display(name, str(field.verbose_name)))

    def times_shown(self, names: Sequence) -> tuple:
        return tuple(
            f"{name}__shown" if isinstance(name, str) and name in self.time_fields else name
            for name in names
        )

    def get_list_display(self, request):
        return self.times_shown(super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return self.times_shown(super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return self.times_shown(super().get_readonly_fields(request, obj))


def _time_display(name: str, label: str):
    @admin.display(description=label, ordering=name)
    def shown(obj):
        return console_time(getattr(obj, name))

    return shown


class ClampedChangeList(ChangeList):
    """A page number past the end shows the last page, with a message and every filter kept
    (Django's own answer drops them all and lands on page 1 with "?e=1")."""

    def get_results(self, request):
        try:
            super().get_results(request)
        except IncorrectLookupParameters:
            if self.page_num <= 1:
                raise
            last = self.model_admin.last_page_number(request, self.queryset, self.list_per_page)
            if last >= self.page_num:
                raise
            messages.info(
                request,
                f"There is no page {self.page_num} with these filters; this is the last one, "
                f"page {last}.",
            )
            self.page_num = last
            # The paginator reads the page from the request, as on any other page.
            request.GET = request.GET.copy()
            request.GET[PAGE_VAR] = str(last)
            super().get_results(request)
            return
        if self.page_num > 1 and not self.multi_page:
            # Everything fits on one page, which Django shows whatever page was asked for.
            messages.info(
                request,
                f"There is no page {self.page_num} with these filters; this is the last one, "
                "page 1.",
            )
            self.page_num = 1


class ConsoleModelAdmin(
    ConsoleTimesMixin, GuardedSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """A read-only console page; changes happen only through actions that call services."""

    # One count per page (of what the filters match), not a second one of the whole table.
    show_full_result_count = False

    def get_changelist(self, request, **kwargs):
        return ClampedChangeList

    def history_view(self, request, object_id, extra_context=None):
        """History from the audit trail, where every change is written (the console changes
        nothing through Django's own forms, so Django's admin log stays empty)."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No such {self.opts.verbose_name}.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "opts": self.opts,
            "object": obj,
            "entries": [
                {"when": console_time(entry.created_at), "entry": entry}
                for entry in self.admin_site.audit_history(obj)
            ],
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/console_history.html", context)

    def last_page_number(self, request, queryset, per_page: int) -> int:
        return max(Paginator(queryset, per_page).num_pages, 1)


class UncountedPaginator(Paginator):
    """Pages of a table too big to count: it fetches one row more than a page to know whether
    a next page exists, so the last page number is never known and never computed.

    Pages past MAX_PAGES are not fetched (an OFFSET of millions reads every row before it):
    the time filters reach older rows at once.
    """

    MAX_PAGES = 1000

    def __init__(self, object_list, per_page, *, page_number: int = 1, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.page_number = max(page_number, 1)

    @cached_property
    def _probe(self) -> list:
        if self.page_number > self.MAX_PAGES:
            return []
        offset = (self.page_number - 1) * self.per_page
        return list(self.object_list[offset : offset + self.per_page + 1])

    @cached_property
    def count(self) -> int:
        return (self.page_number - 1) * self.per_page + len(self._probe)

    def page(self, number):
        number = self.validate_number(number)
        if number != self.page_number:
            raise InvalidPage("Only the requested page is fetched.")
        return Page(self._probe[: self.per_page], number, self)


class UncountedPaginationMixin:
    """A changelist over millions of rows: no COUNT(*), no "show all", no facet counts."""

    show_full_result_count = False
    list_max_show_all = 0
    show_facets = admin.ShowFacets.NEVER

    def last_page_number(self, request, queryset, per_page: int) -> int:
        # Counts no further than the page asked for (at most MAX_PAGES pages of rows).
        try:
            asked = min(int(request.GET.get(PAGE_VAR, 1)), UncountedPaginator.MAX_PAGES + 1)
        except ValueError:
            asked = 1
        rows = queryset[: (asked - 1) * per_page].count()
        return max(-(-rows // per_page), 1)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            page_number = int(request.GET.get("p", 1))
        except ValueError:
            page_number = 1
        return UncountedPaginator(
            queryset,
            per_page,
            orphans=0,
            allow_empty_first_page=allow_empty_first_page,
            page_number=page_number,
        )


def json_table(value: object) -> str:
    """A JSON object as a small two-column table; anything else is shown as what it is."""
    if isinstance(value, dict):
        if not value:
            return "—"
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((key, _scalar(v)) for key, v in value.items())
        )
        return format_html('<table class="convoy-json">{}</table>', rows)
    kind = type(value).__name__ if value is not None else "null"
    return format_html(
        '<span class="convoy-malformed">Malformed ({}), stored as: <code>{}</code></span>',
        kind,
        Truncator(json.dumps(value, ensure_ascii=False, default=str)).chars(200),
    )


def _scalar(value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value)
    return Truncator(json.dumps(value, ensure_ascii=False, default=str)).chars(120)


class ReasonForm(forms.Form):
    """The reason a staff member gives before a destructive action; the audit trail keeps it."""

    reason = forms.CharField(
        max_length=REASON_MAX_CHARS,
        strip=True,
        widget=forms.TextInput(attrs={"size": 80, "autocomplete": "off"}),
        help_text=f"Kept in the audit trail. At most {REASON_MAX_CHARS} characters.",
        error_messages={"required": "Say why: the reason is kept in the audit trail."},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"]
        if has_forbidden_characters(reason):
            raise forms.ValidationError("The reason may not contain control characters.")
        return reason


# How many names a bulk confirmation lists before "and N more": the page stays short and
# reads one page of rows whatever was selected ("select all 4,037" included).
CONFIRM_NAMES_SHOWN = 20
# Rows a bulk action reads at a time while it runs, so thousands are never held at once.
BULK_CHUNK = 200


def apply_to_each(
    model_admin, request, objects: Iterable, call, *, describe, succeeded: str
) -> None:
    """Run a service once per selected object, then say what happened in the admin's messages:
    how many succeeded, and each refusal in the service's own words."""
    done = 0
    for obj in objects:
        try:
            call(obj)
        except DomainError as exc:
            model_admin.message_user(request, f"{describe(obj)}: {exc.message}", messages.WARNING)
        else:
            done += 1
    if done:
        model_admin.message_user(request, succeeded.format(count=done), messages.SUCCESS)


def confirmed_bulk_action(
    model_admin,
    request,
    queryset,
    call: Callable[[object, str], object],
    *,
    describe: Callable[[object], str],
    succeeded: str,
    title: str,
    question: str,
    consequence: str,
    confirm_label: str,
    skipped: str = "",
):
    """A list action that asks first: the first POST (from the list) shows what it will act
    on, by count and names, and asks for a reason; only the confirmation's POST, with a
    reason, calls ``call(obj, reason)`` per object. The confirmation posts back to the same
    address with the same selection (select-across included), so the list's filters hold.

    ``question`` may use {count}; ``skipped`` is shown when the caller excluded rows (a
    moderator's own account)."""
    form = ReasonForm(request.POST if "confirm" in request.POST else None)
    if form.is_bound and form.is_valid():
        apply_to_each(
            model_admin,
            request,
            queryset.iterator(chunk_size=BULK_CHUNK),
            lambda obj: call(obj, form.cleaned_data["reason"]),
            describe=describe,
            succeeded=succeeded,
        )
        return None
    count = queryset.count()
    if count == 0:
        model_admin.message_user(request, "Nothing selected could be acted on.", messages.WARNING)
        return None
    names = [describe(obj) for obj in queryset[:CONFIRM_NAMES_SHOWN]]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "question": question.format(count=count),
        "consequence": consequence,
        "confirm_label": confirm_label.format(count=count),
        "count": count,
        "names": names,
        "more": count - len(names),
        "skipped": skipped,
        "form": form,
        "action": request.POST.get("action", ""),
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(
        request,
        "admin/console_confirm_bulk.html",
        context,
        status=400 if form.is_bound else 200,
    )


# What the mixin uses of the ModelAdmin it is mixed into.
if TYPE_CHECKING:
    _ModelAdminBase = admin.ModelAdmin
else:
    _ModelAdminBase = object


class ConfirmedActionsMixin(_ModelAdminBase):
    """Buttons on an object's page that ask first (GET: what happens, and the reason), then
    call a service (POST with a reason) and come back to the page with a message saying what
    happened."""

    def object_for_action(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No such {self.opts.verbose_name}.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def refused(self, request, *, permission: str, doing: str, back_to=None):
        """A 403 page in the console's style: which role may do this, and the way back."""
        return self.admin_site.refused(  # type: ignore[attr-defined]
            request, permission=permission, doing=doing, back_to=back_to
        )

    def confirmed_action(self, request, obj, call: Callable[[str], object], *, done: str, **texts):
        """``call(reason)`` runs on the confirming POST only. ``texts``: title, question,
        consequence and confirm_label of the confirmation page."""
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if not form.is_bound or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "object": obj,
                "form": form,
                **texts,
            }
            return TemplateResponse(
                request,
                "admin/console_confirm.html",
                context,
                status=400 if form.is_bound else 200,
            )
        try:
            call(form.cleaned_data["reason"])
        except DomainError as exc:
            self.message_user(request, exc.message, messages.WARNING)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", obj.pk)

    def already_done(self, request, obj, *, title: str, message: str):
        """The confirmation page of something already done (a ride that has ended): it says
        so and offers no button."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": obj,
            "title": title,
            "already_done": message,
        }
        return TemplateResponse(request, "admin/console_confirm.html", context)
