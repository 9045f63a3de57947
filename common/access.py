"""Sign-in and sign-out of the staff pages and the portal: one flow, each step an audit event."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from audit.actors import Actor
from audit.services import audit_record_access


def sign_in_page(request: HttpRequest, form_class, *, template: str, home: str, within: str = "",
                 customer_id: Callable = lambda user: None) -> HttpResponse:
    """The sign-in form; a good POST signs the user in (`access.sign_in`) and goes to `next` when it is a URL of
    this site starting with `within`, else to `home`; a refused one records `access.sign_in_failed` with the
    username tried and the form's reason."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    form = form_class(request, data=request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            user = form.get_user()
            login(request, user)
            audit_record_access(actor=Actor.for_user(user, request), action="access.sign_in",
                                customer_id=customer_id(user))
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()) \
                    or not next_url.startswith(within):
                next_url = ""
            return redirect(next_url or home)
        username = request.POST.get("username", "")[:150]
        base = Actor.from_request(request)
        audit_record_access(
            actor=Actor(kind=base.kind, label=username or "anonymous", ip=base.ip, user_agent=base.user_agent,
                        request_id=base.request_id),
            action="access.sign_in_failed",
            reason="; ".join(str(e) for e in form.non_field_errors()),
        )
    return render(request, template, {"form": form, "next": next_url})


def sign_out_page(request: HttpRequest, *, to: str, customer_id: int | None = None) -> HttpResponse:
    """Sign out (`access.sign_out` when someone was signed in) and go to `to`."""
    if request.user.is_authenticated:
        audit_record_access(actor=Actor.from_request(request), action="access.sign_out", customer_id=customer_id)
    logout(request)
    return redirect(to)
