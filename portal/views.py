"""The customer portal: thin views over the same services and selectors as the back office.

Every page is wrapped in `portal_view` (a signed-in user of a customer, never staff) and reads only the
signed-in customer's rows: an id in a URL that belongs to another customer is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import Actor
from common.access import sign_in_page, sign_out_page
from common.form_tokens import submit_once
from common.ids import parse_id
from common.lists import csv_response, htmx_page, iterate, paginate, querystring_without_page, wants_csv
from customers.models import NotificationKind
from customers.money import side
from customers.selectors import customer_figures
from finance.cards import gateway
from finance.cards import selectors as selectors_receipts
from finance.models import OPEN_CHECKOUT_STATUSES, CardPayment
from finance.services import cards
from invoices import selectors as invoice_selectors
from invoices.models import InvoiceType

from . import selectors
from .filters import AuditFilterSet, InvoiceFilterSet, NotificationFilterSet, TransactionFilterSet
from .forms import (
    CardShortfallForm,
    PortalPasswordResetForm,
    PortalSignInForm,
    TopUpForm,
)
from .permissions import customer_of, leads_to_checkout, portal_view


# --- access -------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def sign_in(request):
    if request.method == "GET" and customer_of(request.user) is not None:
        return redirect("portal:home")
    return sign_in_page(request, PortalSignInForm, template="portal/sign_in.html", home="portal:home",
                        within=reverse("portal:home"), customer_id=lambda user: user.customer_membership.customer_id)


@require_POST
def sign_out(request):
    customer = customer_of(request.user)
    return sign_out_page(request, to="portal:login", customer_id=customer.pk if customer else None)


password_reset = auth_views.PasswordResetView.as_view(
    form_class=PortalPasswordResetForm,
    template_name="portal/password_reset_form.html",
    email_template_name="portal/password_reset_email.txt",
    subject_template_name="portal/password_reset_subject.txt",
    success_url=reverse_lazy("portal:password-reset-done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html")
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="portal/password_reset_confirm.html",
    success_url=reverse_lazy("portal:password-reset-complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="portal/password_reset_complete.html")


# --- home ---------------------------------------------------------------------------------------------
@require_GET
@portal_view
def home(request):
    customer = request.customer
    return render(request, "portal/home.html", {
        "customer": customer,
        "figures": customer_figures(customer),
        "open_invoices": selectors.open_invoices(customer) if customer.show_invoices_tab else [],
        "transactions": selectors.latest_transactions(selectors.transactions(customer), limit=selectors.HOME_TRANSACTIONS),
    })


# --- invoices -----------------------------------------------------------------------------------------
def _invoices_tab(request) -> None:
    """The Invoices tab exists only when the customer's portal setting shows it: otherwise its URLs 404."""
    if not request.customer.show_invoices_tab:
        raise Http404("No invoices here.")


@require_GET
@portal_view
def invoice_list(request):
    _invoices_tab(request)
    customer = request.customer
    filters = InvoiceFilterSet(request.GET, selectors.invoice_list(customer))
    qs = filters.qs
    if wants_csv(request):
        return csv_response(
            f"invoices-{customer.code}.csv",
            ["Number", "Type", "Name", "Issued", "Due", "Currency", "Total", "Paid", "Credited", "Outstanding",
             "Status"],
            iterate(qs, lambda i: [i.number, i.get_type_display(), i.name, i.issue_date, i.due_date, i.currency,
                                   i.total, i.amount_paid, i.amount_credited, i.amount_outstanding,
                                   i.status_label]),
        )
    page = paginate(request, qs)
    for invoice in page.object_list:
        invoice.payable = selectors.is_payable_in_portal(invoice)
    context = {"customer": customer, "form": filters.form, "page": page, "qs": querystring_without_page(request),
               "has_payable": any(invoice.payable for invoice in page.object_list),
               "max_invoices": cards.MAX_INVOICES}
    return htmx_page(request, "portal/invoice_list.html", "invoice-table", context)


@require_GET
@portal_view
def invoice_pdf(request, invoice_id: int):
    _invoices_tab(request)
    invoice = selectors.invoice_for_customer(request.customer, invoice_id)
    return selectors.invoice_pdf_response(invoice)


@require_http_methods(["GET", "POST"])
@portal_view
@leads_to_checkout
def invoice_pay(request, invoice_id: int):
    """`$`: credits first. When they cover the invoice one click pays it; when they fall short, the page
    says by how much and offers a card top-up of the shortfall (or more), which then pays the invoice.
    A purchase invoice that is paid already (in another tab, say) shows as paid, with nothing to press."""
    _invoices_tab(request)
    customer = request.customer
    invoice = selectors.invoice_for_customer(request.customer, invoice_id)
    if invoice.type != InvoiceType.PURCHASE:
        messages.info(request, f"Invoice {invoice.number} cannot be paid here "
                               f"({invoice.get_type_display().lower()}, {invoice.status_label.lower()}).")
        return redirect("portal:invoice-list")
    if request.method == "POST":
        def pay() -> str:
            cards.invoice_self_pay_with_credits(invoice_id=invoice.pk, customer_id=customer.pk,
                                                actor=Actor.from_request(request))
            messages.success(request, f"Invoice {invoice.number} is paid with your credits.")
            return reverse("portal:invoice-list")
        try:
            return redirect(submit_once(request, pay))
        except cards.FinanceError as exc:
            if not _still_payable(invoice):
                return _invoice_paid_meanwhile(request, invoice, exc)
            return _pay_page(request, invoice, error=str(exc))
    return _pay_page(request, invoice)


@require_POST
@portal_view
@leads_to_checkout
def invoice_pay_by_card(request, invoice_id: int):
    """Top up the shortfall (or more) by card on Stripe's Checkout page; the credit then pays the invoice.
    A second click (another tab) is sent to the same open Checkout, or to a new one once the first is
    expired at Stripe; an invoice paid meanwhile shows as paid."""
    _invoices_tab(request)
    customer = request.customer
    invoice = selectors.invoice_for_customer(request.customer, invoice_id)
    if not selectors.is_payable_in_portal(invoice):
        return _invoice_paid_meanwhile(request, invoice)
    shortfall = cards.card_payment_shortfall(customer=customer, invoice=invoice)
    form = CardShortfallForm(request.POST, shortfall=shortfall, currency=customer.currency)
    error = ""
    if form.is_valid():
        try:
            payment = cards.card_top_up_start(
                customer_id=customer.pk, invoice_id=invoice.pk, amount=form.cleaned_data["amount"],
                actor=Actor.from_request(request), **_return_urls(request))
        except cards.FinanceError as exc:
            if not _still_payable(invoice):
                return _invoice_paid_meanwhile(request, invoice, exc)
            error = str(exc)
        else:
            return _to_checkout(payment)
    return _pay_page(request, invoice, error=error, card_form=form)


def _still_payable(invoice) -> bool:
    invoice.refresh_from_db()
    return selectors.is_payable_in_portal(invoice)


def _invoice_paid_meanwhile(request, invoice, exc: Exception | None = None) -> HttpResponseRedirect:
    """The losing side of a pay race: a fresh page of the invoice as it is now (paid, nothing to press),
    after a redirect, so a reload does not post again."""
    messages.info(request, str(exc) if isinstance(exc, cards.InvoiceAlreadyPaid)
                  else f"Invoice {invoice.number} is {invoice.status_label.lower()}: nothing is left to pay.")
    response = redirect("portal:invoice-pay", invoice_id=invoice.pk)
    response.status_code = 303
    return response


def _pay_page(request, invoice, *, error: str = "", card_form: CardShortfallForm | None = None):
    customer = request.customer
    payable = selectors.is_payable_in_portal(invoice)
    shortfall = cards.card_payment_shortfall(customer=customer, invoice=invoice) if payable else None
    if payable and card_form is None:
        card_form = CardShortfallForm(initial={"amount": shortfall}, shortfall=shortfall,
                                      currency=customer.currency)
    return render(request, "portal/invoice_pay.html", {
        "customer": customer, "invoice": invoice, "payable": payable, "shortfall": shortfall, "error": error,
        "lines": invoice_selectors.invoice_lines(invoice),
        "credits": (invoice.amount_outstanding - shortfall) if shortfall else invoice.amount_outstanding,
        "card_form": card_form,
        "card_charge": gateway.chargeable(shortfall, customer.currency) if shortfall else None,
    })


def _to_checkout(payment: CardPayment) -> HttpResponseRedirect:
    """303 See Other to Stripe's hosted page (the browser follows it with a GET)."""
    response = HttpResponseRedirect(payment.checkout_url)
    response.status_code = 303
    return response


# --- top-up by card -----------------------------------------------------------------------------------
def _return_urls(request) -> dict[str, str]:
    success = request.build_absolute_uri(reverse("portal:card-success")) + "?session_id={CHECKOUT_SESSION_ID}"
    cancel = request.build_absolute_uri(reverse("portal:card-cancelled")) + "?payment={CARD_PAYMENT_ID}"
    return {"success_url": success, "cancel_url": cancel}


@require_http_methods(["GET", "POST"])
@portal_view
@leads_to_checkout
def top_up(request):
    customer = request.customer
    form = TopUpForm(request.POST or None, currency=customer.currency)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            payment = cards.card_top_up_start(
                customer_id=customer.pk, amount=data["amount"], save_card=data["save_card"],
                trigger_amount=data["trigger_amount"], limit_threshold=data["limit_threshold"],
                actor=Actor.from_request(request), **_return_urls(request))
        except cards.FinanceError as exc:
            error = str(exc)
        else:
            return _to_checkout(payment)
    return render(request, "portal/top_up.html", {
        "customer": customer, "form": form, "error": error, "figures": customer_figures(customer),
        "minimum": form.minimum, "recent": selectors.card_payments(customer)[:5],
    })


def _card_payment_from_session(request) -> CardPayment:
    session_id = request.GET.get("session_id", "")
    if not session_id:
        raise Http404("No card payment.")
    return get_object_or_404(CardPayment, customer=request.customer, checkout_session_id=session_id)


@require_GET
@portal_view
def card_success(request):
    """Stripe sends the customer back here after paying. We do not take the redirect's word for it: the
    session is read from Stripe and fulfilled (once, whoever gets there first: this page or the webhook)."""
    payment = _card_payment_from_session(request)
    problem = ""
    try:
        cards.card_payment_fulfil(checkout_session_id=payment.checkout_session_id,
                                  actor=Actor.from_request(request))
    except gateway.GatewayError:
        problem = "We could not confirm the payment with the card processor yet; it will show here shortly."
    except cards.FinanceError as exc:
        problem = str(exc)
    payment.refresh_from_db()
    request.customer.refresh_from_db()
    invoices_paid = selectors_receipts.invoices_paid(payment)
    return render(request, "portal/card_result.html", {
        "customer": request.customer, "payment": payment, "problem": problem,
        "figures": customer_figures(request.customer), "invoices_paid": invoices_paid,
        "left_as_credit": selectors_receipts.left_as_credit(payment, invoices_paid) if invoices_paid else None,
    })


@require_http_methods(["GET", "POST"])
@portal_view
def card_cancelled(request):
    """Where Stripe sends the customer who left its page without paying (Stripe puts no session id in the
    cancel URL, so it carries our card payment's id, looked up within the customer). GET only shows the
    payment; the "Cancel this payment" button POSTs, which expires the session at Stripe first (a payment
    made meanwhile is credited instead)."""
    payment_id = parse_id((request.POST if request.method == "POST" else request.GET).get("payment"))
    if payment_id is None:
        raise Http404("No card payment.")
    payment = get_object_or_404(CardPayment, customer=request.customer, pk=payment_id)
    problem = ""
    if request.method == "POST":
        try:
            payment = cards.card_payment_cancel(card_payment_id=payment.pk, customer_id=request.customer.pk,
                                                actor=Actor.from_request(request))
        except cards.FinanceError as exc:
            problem = str(exc)
        else:
            response = redirect(f"{reverse('portal:card-cancelled')}?payment={payment.pk}")
            response.status_code = 303
            return response
    request.customer.refresh_from_db()
    return render(request, "portal/card_result.html", {
        "customer": request.customer, "payment": payment, "problem": problem, "cancel_page": True,
        "cancellable": payment.channel == "checkout" and payment.status in OPEN_CHECKOUT_STATUSES,
        "figures": customer_figures(request.customer),
    })


# --- transactions, notifications, audit ----------------------------------------------------------------
@require_GET
@portal_view
def transactions(request):
    customer = request.customer
    filters = TransactionFilterSet(request.GET, selectors.transactions(customer))
    kind = filters.values.get("kind", "")
    rows = selectors.latest_transactions(filters.qs)
    if wants_csv(request):
        return csv_response(f"transactions-{customer.code}.csv",
                            ["Time", "Type", "Reference", "Description", "Amount", "Currency", "CR/DR"],
                            ([selectors.local_time_iso(t.occurred_at), t.get_kind_display(), t.reference_shown,
                              t.description, t.amount, customer.currency, side(t.amount)]
                             for t in rows))
    return render(request, "portal/transaction_list.html", {
        "customer": customer, "form": filters.form, "transactions": rows, "kind": kind,
        "groups": selectors.transaction_totals_by_kind(customer), "limit": selectors.LATEST_TRANSACTIONS,
    })


@require_GET
@portal_view
def notifications(request):
    customer = request.customer
    filters = NotificationFilterSet(request.GET, selectors.notifications(customer))
    qs = filters.qs
    if wants_csv(request):
        return csv_response(f"notifications-{customer.code}.csv", ["Sent", "Type", "Channel", "To", "Subject",
                                                                   "Status"],
                            iterate(qs, lambda n: [selectors.local_time_iso(n.sent_at), n.get_kind_display(), n.channel,
                                                   n.recipient, n.subject, n.get_status_display()]))
    return render(request, "portal/notification_list.html", {
        "customer": customer, "page": paginate(request, qs), "qs": querystring_without_page(request),
        "kind": filters.values.get("kind", ""), "kinds": NotificationKind.choices,
    })


@require_GET
@portal_view
def audit_trail(request):
    customer = request.customer
    filters = AuditFilterSet(request.GET, selectors.audit_trail(customer))
    qs = filters.qs
    if wants_csv(request):
        return csv_response(f"audit-{customer.code}.csv", ["Time", "Who", "What", "Object", "Changes"],
                            iterate(qs, lambda e: [selectors.local_time_iso(e.occurred_at),
                                                   selectors.actor_shown(e, customer), selectors.what(e),
                                                   selectors.object_shown(e, customer),
                                                   selectors.changes_text(e, customer)]))
    page = paginate(request, qs)
    for event in page.object_list:
        event.who = selectors.actor_shown(event, customer)
        event.what = selectors.what(event)
        event.when = selectors.local_time(event.occurred_at)
        event.object_shown = selectors.object_shown(event, customer)
        event.changes = selectors.changes(event, customer)
    return render(request, "portal/audit_list.html", {
        "customer": customer, "page": page, "q": filters.values.get("q", ""), "qs": querystring_without_page(request),
        "time_zone": selectors.time_zone_shown(),
    })
