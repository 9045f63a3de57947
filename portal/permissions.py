"""Who may use the portal: a signed-in, active user who belongs to a customer (customers.CustomerUser) and
is not staff. Every portal view is wrapped in `portal_view`; it puts the customer on `request.customer`,
and every id in a portal URL is then looked up within that customer (selectors.*_for_customer)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse

from customers.models import Customer, CustomerUser
from finance.cards import gateway


def customer_of(user) -> Customer | None:
    """The customer a portal user belongs to, or None (anonymous, staff, or a user of no customer)."""
    if not user.is_authenticated or not user.is_active or user.is_staff:
        return None
    try:
        return user.customer_membership.customer
    except CustomerUser.DoesNotExist:
        return None


def portal_view(view):
    """Anonymous: the portal sign-in page. Staff or a user of no customer: 403 with a page saying where
    to go. A portal customer: the view, with `request.customer` set."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        customer = customer_of(user)
        if customer is None:
            return render(request, "portal/forbidden.html", {"is_staff": user.is_staff}, status=403)
        request.customer = customer
        return view(request, *args, **kwargs)

    wrapper.portal_view = True  # read by the test that checks every portal view is protected
    return wrapper


def leads_to_checkout(view):
    """For pages whose form answers with a redirect to Stripe's hosted Checkout page: browsers apply the
    page's CSP form-action to that redirect, so the Checkout origin is added to it for these pages only."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response._csp_update = {"form-action": [gateway.checkout_origin()]}
        return response

    return wrapper
