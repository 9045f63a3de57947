"""Back-office shell: staff sign-in and sign-out (each an audit event) and the dashboard."""

from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from audit.actors import Actor
from audit.services import audit_record_access
from common.permissions import staff_view

from . import selectors
from .charts import dashboard_view
from .forms import StaffSignInForm


@require_http_methods(["GET", "POST"])
def sign_in(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.user.is_authenticated and request.user.is_staff and request.method == "GET":
        return redirect("dashboard")
    form = StaffSignInForm(request, data=request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            user = form.get_user()
            login(request, user)
            audit_record_access(actor=Actor.for_user(user, request), action="access.sign_in")
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
                next_url = ""
            return redirect(next_url or "dashboard")
        username = request.POST.get("username", "")[:150]
        base = Actor.from_request(request)
        audit_record_access(
            actor=Actor(kind=base.kind, label=username or "anonymous", ip=base.ip, user_agent=base.user_agent,
                        request_id=base.request_id),
            action="access.sign_in_failed",
            reason="; ".join(str(e) for e in form.non_field_errors()),
        )
    return render(request, "registration/login.html", {"form": form, "next": next_url})


@require_POST
def sign_out(request):
    if request.user.is_authenticated:
        audit_record_access(actor=Actor.from_request(request), action="access.sign_out")
    logout(request)
    return redirect("login")


@staff_view()
def dashboard(request):
    return render(request, "backoffice/dashboard.html", dashboard_view(selectors.dashboard()))
