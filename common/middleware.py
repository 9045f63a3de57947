"""Request and response rules that hold for every page, whichever app answers it.

- `RefuseNulBytesMiddleware`: a NUL byte in the path, a query or a form field (key or value) or a header is
  a 400 page saying so, and a cookie holding one is dropped. PostgreSQL cannot store or compare text containing NUL
  (psycopg refuses it), so without this any search box or filter given `%00` was a 500.
- `SignedInResponsesMiddleware`: for a signed-in user, every response (page, fragment, PDF, CSV) says
  `Cache-Control: no-store`, so no browser or proxy keeps a copy of a customer's or the finance team's data;
  and the session's idle timeout (staff and portal customers each their own) slides with activity.
- `OwnErrorPagesMiddleware`: with DEBUG on (bin/run), the project's own 404 and 500 pages instead of Django's
  technical ones, which list every URL pattern of the project (404) or show the traceback and settings (500)
  to whoever is looking, customers of the portal included. The traceback still goes to the console log.
  (With DEBUG off Django renders 404.html and 500.html itself.) /api/ keeps its problem+json replies."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.cache import add_never_cache_headers

NUL = "\x00"
# The session's idle expiry is renewed at most this often (each renewal writes the session row).
RENEW_EVERY_SECONDS = 60


def _has_nul(query) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in query.lists())


class RefuseNulBytesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # A cookie holding a NUL is dropped (the session cookie's key would reach a query): the browser is
        # then treated as one without it, rather than refused until someone clears its cookies.
        if any(NUL in key or NUL in value for key, value in request.COOKIES.items()):
            request.COOKIES = {k: v for k, v in request.COOKIES.items() if NUL not in k and NUL not in v}
        if NUL in request.path or _has_nul(request.GET) or _form_has_nul(request) or _header_has_nul(request):
            return render(request, "400.html", {"reason": "The address, the form or a header contains a NUL "
                                                          "character (%00), which nothing here accepts."},
                          status=400)
        return self.get_response(request)


def _header_has_nul(request) -> bool:
    """A header (User-Agent, X-Request-ID, ...) ends up in the audit trail and django-axes' records."""
    return any(NUL in value for key, value in request.META.items() if key.startswith("HTTP_")
               and key != "HTTP_COOKIE" and isinstance(value, str))


def _form_has_nul(request) -> bool:
    if request.method != "POST" or not request.content_type.startswith(("application/x-www-form-urlencoded",
                                                                        "multipart/form-data")):
        return False
    if request.content_type.startswith("multipart/form-data") and _accepts_uploads(request):
        # A view that takes files (`accepts_uploads = True`: bank statements) gets its form parsed as a stream
        # (files go to the upload handlers, to disk past FILE_UPLOAD_MAX_MEMORY_SIZE): reading the raw body first
        # would hold a whole upload in memory and refuse one past DATA_UPLOAD_MAX_MEMORY_SIZE. The form fields
        # are checked; the files' contents are the view's to judge.
        return _has_nul(request.POST)
    # The raw body first: parsed from it, the form leaves it readable for the view.
    return bool(request.body) and _has_nul(request.POST)


def _accepts_uploads(request) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return getattr(match.func, "accepts_uploads", False) is True


class SignedInResponsesMiddleware:
    """After AuthenticationMiddleware (it reads request.user)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        before = request.user
        response = self.get_response(request)
        after = request.user  # the view may have signed the user in or out
        if after.is_authenticated:
            _slide_idle_expiry(request, after)
        if after.is_authenticated or before.is_authenticated:  # also the responses that sign in and out
            add_never_cache_headers(response)
        return response


def idle_seconds(user) -> int:
    return settings.LEDGERDESK_STAFF_SESSION_IDLE_SECONDS if user.is_staff else \
        settings.LEDGERDESK_PORTAL_SESSION_IDLE_SECONDS


def _slide_idle_expiry(request, user) -> None:
    """The session expires `idle_seconds` after the last request: set when the session is saved anyway (the
    sign-in saves it), else renewed at most once a minute, so most page views write nothing."""
    session, now = request.session, int(time.time())
    idle, seen = idle_seconds(user), session.get("_seen")
    due = seen is not None and (session.get("_idle") != idle or now - seen >= RENEW_EVERY_SECONDS)
    if session.modified or due:
        session["_seen"], session["_idle"] = now, idle
        session.set_expiry(idle)


logger = logging.getLogger("django.request")


class OwnErrorPagesMiddleware:
    """Sits inside CSPMiddleware (its pages get the CSP header) and outside the views. Acts only with DEBUG on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (settings.DEBUG and response.status_code == 404 and not request.path.startswith("/api/")
                and response.get("Content-Type", "").startswith("text/html")):
            # Django's technical 404 (an unknown address, or Http404 from a view) becomes the project's page.
            return render(request, "404.html", status=404)
        return response

    def process_exception(self, request, exception):
        if not settings.DEBUG or request.path.startswith("/api/") or isinstance(exception, Http404):
            return None  # a 404 is answered above; with DEBUG off Django renders 500.html itself
        if isinstance(exception, (PermissionDenied, BadRequest, SuspiciousOperation)):
            return None  # Django's own 4xx handling
        logger.error("Internal Server Error: %s", request.path, exc_info=exception,
                     extra={"status_code": 500, "request": request})
        return render(request, "500.html", status=500)
