"""Paying several invoices at once: the invoice list's "Pay selected" leads to a confirm page showing the
selected invoices, the credits applied first and the card shortfall; one click pays them with credits when
the credits cover them all, else one Stripe Checkout for the shortfall pays each once it is credited
(finance.services.cards). The selection travels as repeated `invoice` ids, looked up within the signed-in
customer only: another customer's id is a 404, an id that is not a plain number is refused, nothing
changes."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from audit.actors import Actor
from common.form_tokens import submit_once
from common.ids import parse_id
from customers.money import ZERO
from finance.cards import gateway
from finance.services import cards

from . import selectors
from .permissions import leads_to_checkout, portal_view
from .views import _invoices_tab, _return_urls, _to_checkout


class BadSelection(ValueError):
    """The posted selection is not a list of invoice ids."""


def _selected_ids(data) -> list[int]:
    """The `invoice` ids of a GET or POST, each once, in the order given. ASCII digits only (no '²', no
    NUL, no sign, nothing past a bigint: common.ids), at most cards.MAX_INVOICES ids."""
    raw = data.getlist("invoice")
    if len(raw) > 4 * cards.MAX_INVOICES:
        raise BadSelection(f"Select at most {cards.MAX_INVOICES} invoices at a time.")
    ids: list[int] = []
    for value in raw:
        number = parse_id(value)
        if number is None:
            raise BadSelection("That selection of invoices is not valid.")
        if number not in ids:
            ids.append(number)
    if len(ids) > cards.MAX_INVOICES:
        raise BadSelection(f"Select at most {cards.MAX_INVOICES} invoices at a time.")
    return ids


def _posted_selection(request) -> list[int] | HttpResponse:
    """The two or more invoice ids a pay button posted, or the invoice list again saying what is wrong."""
    try:
        ids = _selected_ids(request.POST)
    except BadSelection as exc:
        return _back_to_list(request, str(exc))
    if len(ids) < 2:
        return _back_to_list(request, "Select two or more invoices to pay them together.")
    return ids


def _back_to_list(request, message: str):
    messages.error(request, message)
    response = redirect("portal:invoice-list")
    response.status_code = 303
    return response


def _invoices(request, ids: list[int]) -> list:
    """The customer's invoices for the ids, oldest due first; another customer's (or unknown) id is a 404."""
    found = {i.pk: i for i in selectors.invoices_visible(request.customer).filter(pk__in=ids)}
    if len(found) != len(ids):
        raise Http404("No such invoice.")
    return sorted(found.values(), key=lambda i: (i.due_date, i.pk))


def _confirm_page(request, invoices: list, *, error: str = "", status: int = 200):
    customer = request.customer
    not_payable = [i for i in invoices if not selectors.is_payable_in_portal(i)]
    payable = [i for i in invoices if selectors.is_payable_in_portal(i)]
    total = sum((i.amount_outstanding for i in payable), ZERO)
    shortfall = cards.invoices_card_shortfall(customer=customer, invoices=payable) if payable else ZERO
    return render(request, "portal/invoices_pay.html", {
        "customer": customer, "invoices": invoices, "not_payable": not_payable, "payable": not not_payable,
        "total": total, "credits": total - shortfall, "shortfall": shortfall, "error": error,
        "card_charge": gateway.chargeable(shortfall, customer.currency) if shortfall else None,
        "max_invoices": cards.MAX_INVOICES,
    }, status=status)


@require_GET
@portal_view
@leads_to_checkout
def invoices_pay(request):
    """The confirm page of "Pay selected". One invoice goes to its own pay page."""
    _invoices_tab(request)
    try:
        ids = _selected_ids(request.GET)
    except BadSelection as exc:
        return _back_to_list(request, str(exc))
    if not ids:
        return _back_to_list(request, "Select the invoices you want to pay.")
    invoices = _invoices(request, ids)
    if len(invoices) == 1:
        return redirect("portal:invoice-pay", invoice_id=invoices[0].pk)
    return _confirm_page(request, invoices)


@require_POST
@portal_view
@leads_to_checkout
def invoices_pay_with_credits(request):
    """Pay every selected invoice with credits, all or nothing. An invoice paid meanwhile (another tab)
    or credits that fell short: the confirm page again, as things are now, saying why; nothing is paid."""
    _invoices_tab(request)
    ids = _posted_selection(request)
    if isinstance(ids, HttpResponse):
        return ids
    _invoices(request, ids)  # another customer's id: 404 before anything is tried

    def pay() -> str:
        paid = cards.invoices_self_pay_with_credits(invoice_ids=ids, customer_id=request.customer.pk,
                                                    actor=Actor.from_request(request))
        messages.success(request, "Invoices " + ", ".join(i.number for i in paid) + " are paid with your credits.")
        return reverse("portal:invoice-list")
    try:
        response = redirect(submit_once(request, pay))
    except cards.FinanceError as exc:
        return _confirm_page(request, _invoices(request, ids), error=str(exc))
    response.status_code = 303
    return response


@require_POST
@portal_view
@leads_to_checkout
def invoices_pay_by_card(request):
    """One Stripe Checkout for the selected invoices' shortfall; once it is credited the credit pays each
    invoice (finance.services.cards). The confirm page again, saying why, when it cannot start."""
    _invoices_tab(request)
    ids = _posted_selection(request)
    if isinstance(ids, HttpResponse):
        return ids
    invoices = _invoices(request, ids)
    payable = [i for i in invoices if selectors.is_payable_in_portal(i)]
    if len(payable) != len(invoices):
        return _confirm_page(request, invoices, error="Some of these invoices can no longer be paid here.")
    shortfall = cards.invoices_card_shortfall(customer=request.customer, invoices=payable)
    if shortfall <= ZERO:
        return _confirm_page(request, invoices, error="Your credits now cover these invoices: pay them with credits.")
    try:
        payment = cards.card_top_up_start(customer_id=request.customer.pk, invoice_ids=ids, amount=shortfall,
                                          actor=Actor.from_request(request), **_return_urls(request))
    except cards.FinanceError as exc:
        return _confirm_page(request, _invoices(request, ids), error=str(exc))
    return _to_checkout(payment)
