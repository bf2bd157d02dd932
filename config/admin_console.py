"""Plumbing every admin page of the console shares: guarded search, read-only pages, a
paginator that never counts a huge table, JSON shown as a table, and actions that call a
service per object (from a list, or from an object's page after a confirmation) and report
the outcome in the admin's messages."""

import json
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage, Page, Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from config.errors import DomainError
from config.text import has_forbidden_characters

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


class ConsoleModelAdmin(GuardedSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only console page; changes happen only through actions that call services."""

    # One count per page (of what the filters match), not a second one of the whole table.
    show_full_result_count = False


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


def apply_to_each(model_admin, request, objects, call, *, describe, succeeded: str) -> None:
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


# What the mixin uses of the ModelAdmin it is mixed into.
if TYPE_CHECKING:
    _ModelAdminBase = admin.ModelAdmin
else:
    _ModelAdminBase = object


class ConfirmedActionsMixin(_ModelAdminBase):
    """Buttons on an object's page that ask first (GET), then call a service (POST) and come
    back to the page with a message saying what happened."""

    def object_for_action(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No such {self.opts.verbose_name}.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def confirmed_action(self, request, obj, call, *, done: str, **texts):
        """``texts``: title, question, consequence and confirm_label of the confirmation."""
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "object": obj,
                **texts,
            }
            return TemplateResponse(request, "admin/console_confirm.html", context)
        try:
            call()
        except DomainError as exc:
            self.message_user(request, exc.message, messages.WARNING)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", obj.pk)
