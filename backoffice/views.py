"""Back-office shell: staff sign-in and sign-out (each an audit event) and the dashboard."""

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from common.access import sign_in_page, sign_out_page
from common.lists import redirect_page
from common.permissions import staff_view

from . import selectors
from .charts import dashboard_view
from .forms import StaffSignInForm
from .services import dashboard_refresh as dashboard_refresh_service


@require_http_methods(["GET", "POST"])
def sign_in(request):
    if request.user.is_authenticated and request.user.is_staff and request.method == "GET":
        return redirect("dashboard")
    return sign_in_page(request, StaffSignInForm, template="registration/login.html", home="dashboard")


@require_POST
def sign_out(request):
    return sign_out_page(request, to="login")


@staff_view()
def dashboard(request):
    return render(request, "backoffice/dashboard.html", dashboard_view(selectors.dashboard()))


@require_POST
@staff_view()
def dashboard_refresh(request):
    """The dashboard's snapshot taken again now (it changes no data: a viewer may ask too), then the dashboard."""
    dashboard_refresh_service()
    return redirect_page(request, reverse("dashboard"))
