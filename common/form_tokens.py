"""One-time form tokens: a page's form that moves money (records a payment, allocates, tops up, issues a credit
note, pays an invoice, ...) carries a token made when the form is rendered (`{% form_token %}`), and its view
runs the service through `submit_once`. The first POST with a token records it (common.models.IdempotencyRecord,
client `form:user:<id>`) in the same transaction as the service's writes, with the URL of the result; a second
POST with the token (a double click, a reload that re-sends the form, the back button, a retry after a
time-out) creates nothing and is sent to that same result, with a note saying so. Two POSTs at the same moment
meet at the record's unique index: the second waits for the first to commit, then replays it. The record is
written first (common/idempotency.py, record_first): an effect may reach outside the database (an invoice's
email, the success message it adds), so a second POST must wait before its effect runs, not after.

- A refusal (the service raises) rolls the record back with everything else: the page shows the message and
  the form, re-rendered with a new token, can be sent again.
- Tokens are per signed-in user: another user's token is simply a new key for them.
- Like Stripe's Idempotency-Key, the token is the client's promise: a POST without one (a script, not one of
  our pages, which always send it) runs unguarded.
- static/js/app.js also disables the form's buttons while its request is in flight."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpResponse

from .idempotency import MAX_KEY, KeyInUse, once
from .lists import redirect_page

FIELD = "form_token"
SKIPPED = {"csrfmiddlewaretoken", FIELD}
REPLAYED = ("This form was already sent: nothing new was recorded. This is what it did the first time.")
REPLAYED_CHANGED = ("This form was already sent, with other values: nothing new was recorded. This is what it "
                    "did the first time; open the form again to make another one.")
IN_FLIGHT = "This form is still being processed. Check the result in a moment before sending it again."


def new_token() -> str:
    return secrets.token_urlsafe(18)


def client_of(request) -> str:
    return f"form:user:{request.user.pk}"


def fingerprint(request) -> str:
    items = sorted((k, v) for k, values in request.POST.lists() if k not in SKIPPED for v in values)
    text = "\n".join(f"{k}={v}" for k, v in items)
    return hashlib.sha256(f"{request.method} {request.path}\n{text}".encode()).hexdigest()


def submit_once(request, effect: Callable[[], str], *, busy_url: str = "") -> str:
    """Run `effect` (one service call; returns the URL of what it made) once per form token, and return the URL
    to send the browser to: the effect's, or on a repeated token the first POST's. What the effect raises
    propagates (nothing is recorded). `busy_url` is where to go when the first POST is somehow still in flight
    (default: the page the form was on)."""
    token = request.POST.get(FIELD, "")
    if not token or len(token) > MAX_KEY or not token.isascii() or not token.isprintable():
        return effect()
    try:
        outcome = once(client=client_of(request), key=token, fingerprint=fingerprint(request),
                       effect=lambda: (303, effect()), record_first=True)
    except KeyInUse:
        messages.warning(request, IN_FLIGHT)
        return busy_url or request.path
    if outcome.replayed:
        messages.info(request, REPLAYED if outcome.same_request else REPLAYED_CHANGED)
    return outcome.text


def submit_form(request, form, effect: Callable[[], str], errors: type[Exception] | tuple[type[Exception], ...],
                *, busy_url: str = "") -> HttpResponse | None:
    """A form page's POST: `submit_once` and go to the result's URL (`redirect_page`); a refusal in `errors` goes on
    `form` as its error and None comes back, for the view to show the form again."""
    try:
        return redirect_page(request, submit_once(request, effect, busy_url=busy_url))
    except errors as exc:
        form.add_error(None, str(exc))
        return None


def submit_button(request, effect: Callable[[], str], errors: type[Exception] | tuple[type[Exception], ...], *,
                  back: str) -> HttpResponse:
    """A button's POST (no form to show again): `submit_once` and go to the result's URL; a refusal in `errors`
    becomes an error message on `back`, the page the button is on."""
    try:
        return redirect_page(request, submit_once(request, effect, busy_url=back))
    except errors as exc:
        messages.error(request, str(exc))
    return redirect_page(request, back)
