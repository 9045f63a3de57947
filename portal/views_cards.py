"""The portal's Cards and auto top-up page and its Payments page (with card receipts). Thin views, as in
portal/views.py: every one is wrapped in `portal_view`, reads only the signed-in customer's rows (a
foreign id is a 404) and makes one service call per change."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.actors import Actor
from common.lists import csv_response, htmx_page, paginate, querystring_without_page, wants_csv
from customers.money import display
from finance.auto_top_up.selectors import auto_top_up_projection, card_choices
from finance.cards.receipts import receipt_filename, render_receipt_pdf
from finance.cards.selectors import customer_payments, receipt_payment
from finance.models import CardPayment, PaymentSettings, TopUpMethod
from finance.services.auto_top_up import (
    PaymentSettingsError,
    payment_settings_switch_from_portal,
    payment_settings_update_from_portal,
)
from finance.services.saved_card import SavedCardError, saved_card_remove

from .filters import PaymentFilterSet
from .forms_cards import AutoTopUpAmountsForm
from .permissions import portal_view
from .selectors import local_time_iso


# --- Cards and auto top-up --------------------------------------------------------------------------------
def _projection(customer, settings: PaymentSettings | None):
    """What the daily job will do, when auto top-up by card is on and usable credits are at or below the
    threshold already (else None: nothing to warn about)."""
    if settings is None or not settings.auto_top_up_enabled or settings.trigger_amount is None:
        return None
    projection = auto_top_up_projection(usable_credits=customer.usable_credits, trigger_amount=settings.trigger_amount,
                                        limit_threshold=settings.limit_threshold, currency=customer.currency)
    return projection if projection.top_ups_needed else None


def _card_page(request, *, form=None, error: str = "", status: int = 200):
    customer = request.customer
    settings = PaymentSettings.objects.filter(customer=customer).first()
    has_card = bool(customer.stripe_payment_method_id)
    if form is None:
        trigger, threshold = card_choices(customer.pk, settings)
        form = AutoTopUpAmountsForm(initial={"trigger_amount": trigger if trigger is not None else "",
                                             "limit_threshold": threshold if threshold is not None else ""},
                                    currency=customer.currency)
    return render(request, "portal/card_settings.html", {
        "customer": customer, "settings": settings, "has_card": has_card, "form": form, "error": error,
        "by_card": settings is not None and settings.method == TopUpMethod.CARD,
        "projection": _projection(customer, settings), "usable_credits": customer.usable_credits,
    }, status=status)


@require_GET
@portal_view
def card_settings(request):
    return _card_page(request)


def _confirmation(request, settings: PaymentSettings) -> str:
    customer = request.customer
    customer.refresh_from_db()
    if not settings.auto_top_up_enabled:
        return (f"Saved. Automatic top-ups are off: turn them on to top up {display(settings.trigger_amount)} "
                f"{customer.currency} when your usable credits fall to {display(settings.limit_threshold)} "
                f"{customer.currency}.")
    projection = auto_top_up_projection(usable_credits=customer.usable_credits, trigger_amount=settings.trigger_amount,
                                        limit_threshold=settings.limit_threshold, currency=customer.currency)
    if projection.top_ups_needed:
        return f"Automatic top-ups by card are on. {projection.sentence()}"
    return (f"Automatic top-ups by card are on: we top up {display(settings.trigger_amount)} {customer.currency} "
            f"once a day at most when your usable credits fall to {display(settings.limit_threshold)} "
            f"{customer.currency} or below.")


@require_POST
@portal_view
def card_settings_amounts(request):
    """Change the amount of each automatic top-up and the threshold (on/off stays as it is)."""
    form = AutoTopUpAmountsForm(request.POST, currency=request.customer.currency)
    if not form.is_valid():
        return _card_page(request, form=form)
    try:
        settings = payment_settings_update_from_portal(
            customer_id=request.customer.pk, trigger_amount=form.cleaned_data["trigger_amount"],
            limit_threshold=form.cleaned_data["limit_threshold"], auto_top_up_enabled=None,
            actor=Actor.from_request(request))
    except PaymentSettingsError as exc:
        return _card_page(request, form=form, error=str(exc))
    messages.success(request, _confirmation(request, settings))
    return redirect("portal:card-settings")


@require_POST
@portal_view
def card_settings_switch(request):
    """Turn automatic top-ups by card off, or on again (with a saved card)."""
    wanted = request.POST.get("auto_top_up", "")
    if wanted not in ("on", "off"):
        return _card_page(request, error="Choose to turn automatic top-ups on or off.")
    try:
        settings = payment_settings_switch_from_portal(customer_id=request.customer.pk, enabled=wanted == "on",
                                                       actor=Actor.from_request(request))
    except PaymentSettingsError as exc:
        return _card_page(request, error=str(exc))
    if settings.auto_top_up_enabled:
        messages.success(request, _confirmation(request, settings))
    else:
        messages.success(request, "Automatic top-ups by card are off: your card will not be charged automatically.")
    return redirect("portal:card-settings")


@require_POST
@portal_view
def card_remove(request):
    try:
        removal = saved_card_remove(customer_id=request.customer.pk, actor=Actor.from_request(request))
    except SavedCardError as exc:
        return _card_page(request, error=str(exc))
    text = f"{removal.card} is removed from your account."
    if removal.auto_top_up_turned_off:
        text += " Automatic top-ups by card are now off; save a card during a top-up to turn them on again."
    messages.success(request, text)
    return redirect("portal:card-settings")


# --- Payments and receipts --------------------------------------------------------------------------------
CSV_HEADER = ["Date", "Type", "Status", "Invoice", "Reference", "Card", "Amount", "Currency", "Receipt"]


@require_GET
@portal_view
def payments(request):
    customer = request.customer
    filters = PaymentFilterSet(request.GET, CardPayment.objects.none())
    chosen = filters.values
    rows = [] if filters.range_reversed else customer_payments(
        customer, kind=chosen.get("kind", ""), date_from=chosen.get("date_from"), date_to=chosen.get("date_to"))
    if wants_csv(request):
        return csv_response(f"payments-{customer.code}.csv", CSV_HEADER, (
            [local_time_iso(r.at), r.kind_label, r.status_label, r.invoice_number, r.reference, r.card_shown,
             r.amount, r.currency, r.receipt_number] for r in rows))
    context = {"customer": customer, "form": filters.form, "page": paginate(request, rows),
               "qs": querystring_without_page(request)}
    return htmx_page(request, "portal/payment_list.html", "payment-table", context)


@require_GET
@portal_view
def payment_receipt(request, card_payment_id: int):
    payment = receipt_payment(request.customer, card_payment_id)
    response = HttpResponse(render_receipt_pdf(payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{receipt_filename(payment)}"'
    return response
