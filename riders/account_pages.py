"""The pages at the paths of the mailed links: confirming an address, resetting a password.

The app claims these paths (universal and app links) and calls the API with the token; a
rider who opens the mail on a computer, or on a phone without the app, lands here instead.
Each page is a form: opening the link (GET) only shows it, and the link is used by the POST
it sends, through the same service the API calls. Mail scanners and link previewers fetch
every link in a mail, and must not spend a single-use token.

Every answer keeps the token, which is in the address, to Convoy: a Referer goes only back
to Convoy itself (``same-origin``: the pages load nothing from elsewhere, and their content
security policy forbids it), no cache keeps it, and nothing may frame or restyle it. The
access log records the path, never the query string (config/observability.py). The forms
are checked by Django's own CSRF protection, unchanged: ``same-origin`` keeps the Origin and
Referer it relies on (``no-referrer`` would make a browser post with ``Origin: null``).
"""

import math
import re
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.template.response import TemplateResponse
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from config.errors import DomainError
from riders.api.throttles import link_use_wait
from riders.email_tokens import KEY_PATTERN
from riders.email_verification import email_verify
from riders.errors import (
    EmailTokenExpired,
    EmailTokenInvalid,
    EmailTokenSuperseded,
    EmailTokenUsed,
    WeakPassword,
)
from riders.password_reset import password_reset_complete

_KEY = re.compile(KEY_PATTERN)
# What the pages may load: their own inline style, nothing else; forms post only back here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
VERIFY = "verify_email"
RESET = "reset_password"

# What a link's services refuse it for: each has its page below.
_LINK_ERRORS = (EmailTokenInvalid, EmailTokenExpired, EmailTokenUsed, EmailTokenSuperseded)

# What a spent or unknown link means, and what to do next, per page.
_LINK_PROBLEMS: dict[type[DomainError], dict[str, tuple[str, str]]] = {
    EmailTokenInvalid: {
        VERIFY: (
            "This link is not valid",
            "It may have been cut short or mistyped: open the link straight from the mail, "
            "or copy all of it. If it still does not work, ask for a new confirmation mail "
            "in the Convoy app (Profile, then Confirm email).",
        ),
        RESET: (
            "This link is not valid",
            "It may have been cut short or mistyped: open the link straight from the mail, "
            "or copy all of it. If it still does not work, ask for a new one with "
            "\u201cForgot password\u201d on the app's log-in screen.",
        ),
    },
    EmailTokenExpired: {
        VERIFY: (
            "This link has expired",
            "Confirmation links work for a limited time. Ask for a new confirmation mail in "
            "the Convoy app (Profile, then Confirm email) and open the newest one.",
        ),
        RESET: (
            "This link has expired",
            "Password reset links work for a limited time. Ask for a new one with "
            "\u201cForgot password\u201d on the app's log-in screen and open it soon.",
        ),
    },
    EmailTokenUsed: {
        VERIFY: (
            "This link has already been used",
            "Each link works once. If you opened it before, your address is already "
            "confirmed and there is nothing more to do.",
        ),
        RESET: (
            "This link has already been used",
            "Each link works once. If you set a new password with it, log in with that "
            "password. If you did not, ask for a new link with \u201cForgot password\u201d on "
            "the app's log-in screen.",
        ),
    },
    EmailTokenSuperseded: {
        VERIFY: (
            "This link no longer applies",
            "A newer confirmation mail was sent, or the account's address changed since. "
            "Open the link in the newest mail, or ask for a new one in the Convoy app.",
        ),
        RESET: (
            "This link no longer applies",
            "A newer reset link was sent, or the password was changed since. Open the link "
            "in the newest mail, or ask for a new one with \u201cForgot password\u201d.",
        ),
    },
}


class _FormCsrf(CsrfViewMiddleware):
    """Django's CSRF check, answering a form too large to read its token from with the
    413 page rather than an error."""

    def process_view(self, request, callback, callback_args, callback_kwargs):
        try:
            return super().process_view(request, callback, callback_args, callback_kwargs)
        except (RequestDataTooBig, TooManyFieldsSent):
            # Reading the form's token hit the upload limit: nothing can be done with it.
            return _too_large(request)


_csrf_protect = decorator_from_middleware(_FormCsrf)


def _private(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """The headers every answer of these pages carries, whatever it says."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "same-origin"
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return wrapped


@csrf_exempt  # from the site's check: _csrf_protect checks instead
@_private
@_csrf_protect
@require_http_methods(["GET", "POST"])
def verify_email_page(request: HttpRequest) -> HttpResponse:
    """GET: the button confirming the address; POST: confirm it and say how it went."""
    form = _link_form(request, VERIFY, "riders/account/verify_email.html")
    if isinstance(form, HttpResponse):
        return form
    key, _ = form
    try:
        rider = email_verify(key=key)
    except _LINK_ERRORS as exc:
        return _link_problem(request, VERIFY, exc)
    return _page(request, "riders/account/email_verified.html", {"email": rider.email})


@csrf_exempt  # from the site's check: _csrf_protect checks instead
@_private
@_csrf_protect
@require_http_methods(["GET", "POST"])
def reset_password_page(request: HttpRequest) -> HttpResponse:
    """GET: the new password form; POST: set it, signing out every device."""
    form = _link_form(request, RESET, "riders/account/reset_password.html")
    if isinstance(form, HttpResponse):
        return form
    key, posted = form
    password, repeated = posted.get("new_password", ""), posted.get("new_password_again", "")
    errors: list[str] = []
    if not password:
        errors.append("Type the new password.")
    elif password != repeated:
        errors.append("The two passwords do not match. Type the same password twice.")
    if not errors:
        try:
            signed_out = password_reset_complete(key=key, new_password=password)
        except _LINK_ERRORS as exc:
            return _link_problem(request, RESET, exc)
        except WeakPassword as exc:
            # The service's check rolled the use back: the link still works.
            errors = [str(m) for messages in exc.fields.values() for m in messages]
        else:
            return _page(
                request, "riders/account/password_reset_done.html", {"signed_out": signed_out}
            )
    return _page(
        request,
        "riders/account/reset_password.html",
        {"token": key, "errors": errors},
        status=422,
    )


def _link_form(
    request: HttpRequest, page: str, form_template: str
) -> HttpResponse | tuple[str, QueryDict]:
    """GET: the page's form for a well-formed link, which spends nothing. POST: the link's
    token and the posted form, once counted in the link-use window; or the answer to give
    instead (rate limited, too large, a malformed token)."""
    if request.method == "GET":
        key = request.GET.get("token", "")
        if not _well_formed(key):
            return _link_problem(request, page, EmailTokenInvalid())
        return _page(request, form_template, {"token": key})
    posted = _posted(request, page)
    if isinstance(posted, HttpResponse):
        return posted
    key = posted.get("token", "")
    if not _well_formed(key):
        return _link_problem(request, page, EmailTokenInvalid())
    return key, posted


def _well_formed(key: object) -> bool:
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def _posted(request: HttpRequest, page: str) -> QueryDict | HttpResponse:
    """The form, once this use of a link is counted in the API's per-address window; or the
    answer when that window is full or the form cannot be read."""
    wait = link_use_wait(request)
    if wait is not None:
        seconds = max(math.ceil(wait), 1)
        response = _page(
            request,
            "riders/account/rate_limited.html",
            {"page": page, "retry_after_seconds": seconds},
            status=429,
        )
        response["Retry-After"] = str(seconds)
        return response
    try:
        return request.POST
    except (RequestDataTooBig, TooManyFieldsSent):
        return _too_large(request)


def _too_large(request: HttpRequest) -> HttpResponse:
    return _page(request, "riders/account/too_large.html", {}, status=413)


def _link_problem(request: HttpRequest, page: str, problem: DomainError) -> HttpResponse:
    title, advice = _LINK_PROBLEMS[type(problem)][page]
    return _page(
        request,
        "riders/account/link_problem.html",
        {"page": page, "title": title, "advice": advice, "code": problem.code},
        status=problem.status,
    )


def _page(request: HttpRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    return TemplateResponse(request, template, context, status=status).render()
