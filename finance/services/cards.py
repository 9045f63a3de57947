"""Card payments through Stripe: online top-ups and invoice self-pay in the portal (Checkout Sessions), the
off-session charge of a saved card (the daily auto top-up), and the Stripe events that confirm them.

Exactly one credit per card payment, whatever arrives and in whatever order (the customer's redirect
back from Checkout, checkout.session.completed, payment_intent.succeeded, each delivered any number of
times, concurrently): fulfilment is keyed by our CardPayment row, found from the Checkout Session or the
PaymentIntent, and happens under the customer's and the row's locks; the ledger entry carries a unique
idempotency key as the database's own guarantee.

Network calls to Stripe never happen while a row lock is held: the facts of a payment are read from
Stripe first (fresh, not from the event payload, so a late or reordered event cannot roll state back),
then applied in one transaction."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from common.ids import parse_id
from customers import ledger
from customers.locks import lock_customer
from customers.models import Customer, TransactionKind, card_label
from customers.money import ZERO, MoneyError, display, max_top_up, parse_amount, quantize
from invoices.locks import lock_invoice, lock_invoices
from invoices.models import OPEN_STATUSES, Invoice, InvoiceStatus, InvoiceType

from ..cards import gateway
from ..models import (
    OPEN_CHECKOUT,
    OPEN_CHECKOUT_STATUSES,
    CardPayment,
    CardPaymentChannel,
    CardPaymentInvoice,
    CardPaymentInvoiceOutcome,
    CardPaymentPurpose,
    CardPaymentStatus,
    StripeEvent,
    StripeEventStatus,
)
from ..selectors import credit_position
from ._common import FinanceError
from .allocation import _pay_with_credits, invoice_pay_with_credits
from .receipts import _queue_receipt_email

logger = logging.getLogger(__name__)

APP = "finance"
SOURCE_TYPE = "finance.cardpayment"
HANDLED_EVENTS = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
})

# Helpers here that the audit walk must not treat as state-changing services.
AUDIT_EXEMPT = {
    "card_payment_shortfall": "read only: how much card top-up an invoice needs after the credits",
    "invoices_card_shortfall": "read only: how much card top-up several invoices need after the credits",
}

# How many invoices one payment may pay at once (the portal's "Pay selected").
MAX_INVOICES = 50


class CardPaymentError(FinanceError):
    """A card payment that cannot be started or applied; the message says why, for the customer."""


class InvoiceAlreadyPaid(CardPaymentError):
    """The invoice is no longer open (paid in another tab, say): the losing side of a pay race."""


# --- reads the services and the portal share ------------------------------------------------------------
def card_payment_shortfall(*, customer: Customer, invoice: Invoice) -> Decimal:
    """How much the customer's credits fall short of the invoice's outstanding amount (0 when they
    cover it): what invoice_pay_with_credits may use is the customer's unallocated payments and credit
    balance (finance.selectors.credit_position)."""
    available = credit_position(customer).available_for_invoices
    return max(invoice.amount_outstanding - max(available, ZERO), ZERO)


def invoices_card_shortfall(*, customer: Customer, invoices: Sequence[Invoice]) -> Decimal:
    """card_payment_shortfall for several invoices: what the credits leave unpaid of their outstanding sum."""
    available = credit_position(customer).available_for_invoices
    return max(sum((i.amount_outstanding for i in invoices), ZERO) - max(available, ZERO), ZERO)


def _oldest_due_first(invoices) -> list[Invoice]:
    return sorted(invoices, key=lambda i: (i.due_date, i.pk))


def _selected_invoices(invoice_ids: Sequence[int], customer_id: int) -> list[Invoice]:
    """The customer's invoices for a "pay several" request, oldest due first (duplicates count once).
    Refused: no invoice, more than MAX_INVOICES, an id that is not one of the customer's invoices."""
    ids = sorted({int(i) for i in invoice_ids})
    if not ids:
        raise CardPaymentError("Select at least one invoice to pay.")
    if len(ids) > MAX_INVOICES:
        raise CardPaymentError(f"Select at most {MAX_INVOICES} invoices at a time.")
    invoices = list(Invoice.objects.filter(pk__in=ids, customer_id=customer_id))
    if len(invoices) != len(ids):
        raise CardPaymentError("One of these invoices does not belong to your account.")
    return _oldest_due_first(invoices)


def _check_invoice_payable(invoice: Invoice, customer_id: int) -> None:
    if invoice.customer_id != customer_id:
        raise CardPaymentError("This invoice does not belong to your account.")
    if invoice.type != InvoiceType.PURCHASE:
        raise CardPaymentError(f"Invoice {invoice.number} is a {invoice.get_type_display().lower()} invoice; "
                               "only purchase invoices can be paid here.")
    if invoice.status == InvoiceStatus.PAID:
        raise InvoiceAlreadyPaid(f"Invoice {invoice.number} is already paid.")
    if invoice.status not in OPEN_STATUSES:
        raise CardPaymentError(f"Invoice {invoice.number} is {invoice.status_label.lower()}; "
                               "only invoices awaiting payment or partially paid can be paid.")


# --- Portal self-pay with credits ---------------------------------------------------------------------------
@transaction.atomic
def invoice_self_pay_with_credits(*, invoice_id: int, customer_id: int, actor: Actor,
                                  now: dt.datetime | None = None) -> Invoice:
    """The portal's `$` when the credits cover the invoice: pay what a purchase invoice still owes with the
    customer's credits (finance's invoice_pay_with_credits, which records the one audit event). Refused
    for another customer's invoice, for monthly and top-up invoices, and when the credits fall short (the
    message says by how much). The invoice is checked under its lock, so of two tabs paying at once one
    pays and the other is told the invoice is paid (InvoiceAlreadyPaid)."""
    if not Invoice.objects.filter(pk=invoice_id, customer_id=customer_id).exists():
        raise CardPaymentError("This invoice does not belong to your account.")
    lock_customer(customer_id)
    invoice = lock_invoice(invoice_id)
    _check_invoice_payable(invoice, customer_id)
    invoice_pay_with_credits(invoice=invoice, amount=invoice.amount_outstanding, actor=actor, at=now)
    invoice.refresh_from_db()
    return invoice


@transaction.atomic
def invoices_self_pay_with_credits(*, invoice_ids: Sequence[int], customer_id: int, actor: Actor,
                                   now: dt.datetime | None = None) -> list[Invoice]:
    """The portal's "Pay selected" when the credits cover every selected invoice: pay what each purchase
    invoice still owes with the customer's credits, oldest due first, in one transaction and one audit
    event (finance.invoices.pay_with_credits, each invoice's part in it). All or nothing: refused, with
    nothing paid, when an invoice is another customer's, not a purchase invoice, not awaiting payment (paid
    meanwhile in another tab: InvoiceAlreadyPaid), or when the credits do not cover them all (the message
    says by how much). Locks: customer -> invoices by pk -> payments (invoice_pay_with_credits's)."""
    now = now or timezone.now()
    selected = _selected_invoices(invoice_ids, customer_id)
    customer = lock_customer(customer_id)
    locked = lock_invoices(i.pk for i in selected)
    invoices = _oldest_due_first(locked.values())
    for invoice in invoices:
        _check_invoice_payable(invoice, customer_id)
    total = sum((i.amount_outstanding for i in invoices), ZERO)
    short = invoices_card_shortfall(customer=customer, invoices=invoices)
    if short > ZERO:
        raise CardPaymentError(f"Your credits fall short of these invoices ({display(total)} {customer.currency}) "
                               f"by {display(short)} {customer.currency}.")
    before_credits = credit_position(customer).available_for_invoices
    paid = []
    for invoice in invoices:
        amount = invoice.amount_outstanding
        try:
            _pay_with_credits(invoice=invoice, amount=amount, actor=actor, at=now)
        except FinanceError as error:
            raise CardPaymentError(str(error)) from error
        paid.append({"invoice": invoice.number, "amount": amount})
    customer.refresh_from_db()
    audit_record(
        actor=actor, action="finance.invoices.pay_with_credits", app=APP, obj=customer, customer_id=customer.pk,
        before={"credits": before_credits},
        after={"invoices": paid, "total": total, "credits": credit_position(customer).available_for_invoices},
        at=now,
    )
    return list(Invoice.objects.filter(pk__in=[i.pk for i in invoices]).order_by("due_date", "pk"))


# --- Checkout (portal) ------------------------------------------------------------------------------------
START_FAILED = "The card payment could not be started. Please try again later."
CANCEL_FAILED = "The card payment could not be cancelled just now. Please try again later."
CHARGE_FAILED = "Your saved card could not be charged. Please try again later."
# An open session this close to its expiry is replaced rather than reused: the customer needs time to pay.
REUSE_MARGIN = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=24)  # Stripe's default, for rows whose session did not say
# Concurrent clicks with different amounts replace each other's open payment (the last one wins); each
# round one of them gets through, so a few rounds are enough for the tabs a customer can have open.
START_ATTEMPTS = 10


@dataclass(frozen=True)
class _Wanted:
    """A validated request for a Checkout payment."""

    customer: Customer
    invoice: Invoice | None
    invoices: tuple[Invoice, ...]  # every invoice the payment is for: (invoice,) for one, several for "invoices"
    amount: Decimal
    save_card: bool
    trigger_amount: Decimal | None
    limit_threshold: Decimal | None


class _OpenTaken(Exception):
    """A concurrent start committed the open Checkout payment this one wanted to create."""


def card_top_up_start(*, customer_id: int, amount: Decimal, actor: Actor, success_url: str, cancel_url: str,
                      invoice_id: int | None = None, invoice_ids: Sequence[int] | None = None,
                      save_card: bool = False,
                      trigger_amount: Decimal | None = None, limit_threshold: Decimal | None = None,
                      now: dt.datetime | None = None) -> CardPayment:
    """Start a card payment on Stripe's hosted Checkout page: an online top-up of `amount`, or (with
    `invoice_id`) a top-up of at least the invoice's shortfall that then pays the invoice with credits, or
    (with `invoice_ids`, two or more) a top-up of at least their shortfall that then pays each of them,
    oldest due first (purpose INVOICES, one CardPaymentInvoice row per invoice).

    With `save_card` the card is kept for automatic top-ups of `trigger_amount` whenever usable credits
    fall to `limit_threshold`. `success_url` must contain {CHECKOUT_SESSION_ID} (Stripe fills it in);
    `{CARD_PAYMENT_ID}` in `cancel_url` becomes our row's id (Stripe fills nothing in there). Returns the row, whose
    `checkout_url` the customer is sent to. Nothing is credited here.

    At most one Checkout is open per invoice (and one top-up per customer), held by the database's partial
    unique indexes (per invoice: CardPaymentInvoice's, across single and several-invoice payments): when one
    is open already (a second tab, a second click), the same request reuses its
    session while Stripe still has it open and it is not about to expire; otherwise the open one is expired
    at Stripe first (or credited, if Stripe says it was paid meanwhile) and a new one is started. Two
    concurrent starts meet at the index: the second waits for the first to commit, then reuses its row.

    Stripe's own error never reaches the customer: it goes to the log and the audit trail
    (finance.card_payment.start_failed), and the CardPaymentError says START_FAILED."""
    now = now or timezone.now()
    for _attempt in range(START_ATTEMPTS):
        wanted = _checkout_wanted(customer_id=customer_id, amount=amount, invoice_id=invoice_id,
                                  invoice_ids=invoice_ids, save_card=save_card, trigger_amount=trigger_amount,
                                  limit_threshold=limit_threshold, success_url=success_url)
        try:
            current = _open_checkout(wanted)
            if current:
                for payment in current:
                    reused = _reuse_or_close(payment, wanted, actor=actor, now=now)
                    if reused is not None:
                        return reused
                continue  # closed (expired, or credited: the invoice may be paid now): look again
            return _checkout_create(wanted, actor=actor, success_url=success_url, cancel_url=cancel_url, now=now)
        except _OpenTaken:
            continue
        except gateway.GatewayError as error:
            _start_failed(wanted, error, actor=actor, now=now)
            raise CardPaymentError(START_FAILED) from error
    logger.warning("Card payment for customer %s not started: other starts kept replacing the open one", customer_id)
    raise CardPaymentError(START_FAILED)


def _card_amount(raw: object, *, field: str, maximum: Decimal | None) -> Decimal:
    """An amount a card payment is started with, through the one strict parser (a caller other than the
    portal's forms gets the same refusals: an exponent, above the maximum, not more than zero)."""
    try:
        return parse_amount(raw, field=field, maximum=maximum)
    except MoneyError as error:
        raise CardPaymentError(str(error)) from error


def _checkout_wanted(*, customer_id: int, amount: Decimal, invoice_id: int | None,
                     invoice_ids: Sequence[int] | None, save_card: bool,
                     trigger_amount: Decimal | None, limit_threshold: Decimal | None, success_url: str) -> _Wanted:
    customer = Customer.objects.get(pk=customer_id)
    # Six places, as every amount: the card is charged the amount rounded up to the currency's minor unit
    # and the excess becomes credits (DESIGN.md); the portal's forms take only what a card charges.
    for_invoices = invoice_id is not None or invoice_ids is not None  # a shortfall: no top-up maximum
    amount = _card_amount(amount, field="The amount", maximum=None if for_invoices else max_top_up())
    minimum = settings.LEDGERDESK_MIN_TOP_UP
    invoice, invoices = None, ()
    if invoice_id is not None and invoice_ids is not None:
        raise CardPaymentError("Pay one invoice or several, not both.")
    if invoice_ids is not None:
        selected = _selected_invoices(invoice_ids, customer_id)
        if len(selected) < 2:
            raise CardPaymentError("Select two or more invoices to pay them together.")
        for one in selected:
            _check_invoice_payable(one, customer_id)
        invoices = tuple(selected)
        shortfall = invoices_card_shortfall(customer=customer, invoices=invoices)
        if shortfall <= ZERO:
            raise CardPaymentError("Your credits already cover these invoices: pay them with credits.")
        if amount < shortfall:
            raise CardPaymentError(f"Top up at least the shortfall of {display(shortfall)} {customer.currency}.")
    elif invoice_id is not None:
        invoice = Invoice.objects.filter(pk=invoice_id, customer_id=customer_id).first()
        if invoice is None:
            raise CardPaymentError("This invoice does not belong to your account.")
        _check_invoice_payable(invoice, customer_id)
        shortfall = card_payment_shortfall(customer=customer, invoice=invoice)
        if shortfall <= ZERO:
            raise CardPaymentError(f"Your credits already cover invoice {invoice.number}: pay it with credits.")
        if amount < shortfall:
            raise CardPaymentError(f"Top up at least the shortfall of {display(shortfall)} {customer.currency}.")
        invoices = (invoice,)
    elif amount < minimum:
        raise CardPaymentError(f"The minimum top-up is {display(minimum)} {customer.currency}.")
    if invoices:  # paying invoices: up to the top-up maximum, or the card charge of a larger shortfall
        most = max(max_top_up(), gateway.chargeable(shortfall, customer.currency))
        if amount > most:
            raise CardPaymentError(f"The amount can be at most {display(most)} {customer.currency}.")
    if save_card:
        if trigger_amount is None:
            raise CardPaymentError(f"An automatic top-up must be at least {display(minimum)} {customer.currency}.")
        if limit_threshold is None:
            raise CardPaymentError("The limit threshold must be more than zero.")
        trigger_amount = _card_amount(trigger_amount, field="The automatic top-up amount", maximum=max_top_up())
        limit_threshold = _card_amount(limit_threshold, field="The limit threshold", maximum=max_top_up())
        if trigger_amount < minimum:
            raise CardPaymentError(f"An automatic top-up must be at least {display(minimum)} {customer.currency}.")
    else:
        trigger_amount = limit_threshold = None
    if "{CHECKOUT_SESSION_ID}" not in success_url:
        raise CardPaymentError("The success URL must carry {CHECKOUT_SESSION_ID}.")
    return _Wanted(customer=customer, invoice=invoice, invoices=invoices, amount=amount, save_card=save_card,
                   trigger_amount=trigger_amount, limit_threshold=limit_threshold)


def _open_checkout(wanted: _Wanted) -> list[CardPayment]:
    """The open Checkout payments the request would compete with (the partial unique indexes' rows): for
    invoices, every open payment (single or several) that is for one of them."""
    qs = CardPayment.objects.filter(OPEN_CHECKOUT)
    if wanted.invoices:
        ids = CardPaymentInvoice.objects.filter(open=True, invoice__in=wanted.invoices).values("card_payment_id")
        return list(qs.filter(Q(pk__in=ids) | Q(purpose=CardPaymentPurpose.INVOICE, invoice__in=wanted.invoices))
                    .order_by("pk"))
    return list(qs.filter(purpose=CardPaymentPurpose.TOP_UP, customer=wanted.customer))


def _purpose_of(wanted: _Wanted) -> str:
    if wanted.invoice is not None:
        return CardPaymentPurpose.INVOICE
    return CardPaymentPurpose.INVOICES if wanted.invoices else CardPaymentPurpose.TOP_UP


def _session_expires_at(payment: CardPayment) -> dt.datetime:
    return payment.expires_at or payment.created_at + SESSION_LIFETIME


def _reuse_or_close(payment: CardPayment, wanted: _Wanted, *, actor: Actor, now: dt.datetime) -> CardPayment | None:
    """The open payment itself when it is the same request and Stripe still has its session open with
    time to pay; else None, once it is closed (expired at Stripe, or credited when it was paid)."""
    same = (payment.purpose == _purpose_of(wanted)
            and sorted(payment.invoice_links.values_list("invoice_id", flat=True)) == sorted(i.pk for i in wanted.invoices)
            and payment.amount == wanted.amount and payment.save_card == wanted.save_card
            and payment.trigger_amount == wanted.trigger_amount and payment.limit_threshold == wanted.limit_threshold)
    if same and _session_expires_at(payment) - now > REUSE_MARGIN:
        facts = gateway.checkout_session_facts(payment.checkout_session_id)
        if facts.session_status == "open" and not facts.paid:
            return payment
        if facts.paid:
            _apply_paid(facts, actor=actor, now=now)
            return None
    _close_open_checkout(payment, to=CardPaymentStatus.EXPIRED, actor=actor, now=now,
                         reason="replaced by a new card payment")
    return None


@transaction.atomic
def _checkout_create(wanted: _Wanted, *, actor: Actor, success_url: str, cancel_url: str,
                     now: dt.datetime) -> CardPayment:
    """Our row, then its Checkout Session at Stripe, in one transaction: a concurrent start for the same
    invoice (or top-up) waits at the unique index until this one commits, then finds this row."""
    customer, invoice, amount = wanted.customer, wanted.invoice, wanted.amount
    try:
        with transaction.atomic():
            payment = CardPayment.objects.create(
                customer=customer,
                purpose=_purpose_of(wanted),
                channel=CardPaymentChannel.CHECKOUT,
                invoice=invoice,
                amount=amount,
                amount_charged=gateway.chargeable(amount, customer.currency),
                currency=customer.currency,
                idempotency_key=f"new:{uuid.uuid4().hex}",  # replaced by the row's own key below
                save_card=wanted.save_card,
                trigger_amount=wanted.trigger_amount,
                limit_threshold=wanted.limit_threshold,
                created_by=actor.label,
                created_at=now,
            )
            CardPaymentInvoice.objects.bulk_create([
                CardPaymentInvoice(card_payment=payment, invoice=one, amount=one.amount_outstanding)
                for one in sorted(wanted.invoices, key=lambda i: i.pk)])
    except IntegrityError as error:
        if _constraint_of(error) in OPEN_CHECKOUT_INDEXES:
            raise _OpenTaken from error
        raise
    payment.idempotency_key = f"card-payment:{payment.pk}:checkout"
    description = (f"Payment of invoice {invoice.number}" if invoice
                   else f"Payment of {len(wanted.invoices)} invoices" if wanted.invoices
                   else "Account top-up") + f" ({customer.code})"
    create = partial(
        gateway.checkout_session_create,
        amount=amount,
        currency=customer.currency,
        description=description,
        success_url=success_url,
        cancel_url=cancel_url.replace("{CARD_PAYMENT_ID}", str(payment.pk)),
        metadata={"card_payment": str(payment.pk), "customer": str(customer.pk), "purpose": payment.purpose},
        customer_email=customer.billing_email,
        save_card=wanted.save_card,
    )
    try:
        session = create(idempotency_key=payment.idempotency_key, stripe_customer_id=customer.stripe_customer_id)
    except gateway.GatewayError as error:
        if not (customer.stripe_customer_id and error.code == "resource_missing"):
            raise
        # The Stripe customer we kept is gone (deleted at Stripe, another Stripe account): Checkout
        # makes a new one, which fulfilment keeps.
        payment.idempotency_key += ":new-customer"
        session = create(idempotency_key=payment.idempotency_key, stripe_customer_id="")
    payment.checkout_session_id = session.id
    payment.checkout_url = session.url
    payment.expires_at = session.expires_at or now + SESSION_LIFETIME
    payment.save(update_fields=["idempotency_key", "checkout_session_id", "checkout_url", "expires_at"])
    audit_record(
        actor=actor, action="finance.card_payment.start", app=APP, obj=payment, customer_id=customer.pk,
        after={"purpose": payment.purpose, "amount": payment.amount, "amount_charged": payment.amount_charged,
               "currency": payment.currency, "invoice": invoice.number if invoice else "",
               "invoices": [i.number for i in wanted.invoices] if len(wanted.invoices) > 1 else [],
               "checkout_session_id": session.id, "save_card": wanted.save_card,
               "trigger_amount": wanted.trigger_amount, "limit_threshold": wanted.limit_threshold,
               "expires_at": payment.expires_at.isoformat()},
        at=now,
    )
    return payment


OPEN_CHECKOUT_INDEXES = frozenset({"card_payment_one_open_checkout_per_invoice",
                                   "card_payment_one_open_checkout_top_up",
                                   "card_payment_invoice_one_open_checkout"})


def _constraint_of(error: IntegrityError) -> str:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


@transaction.atomic
def _start_failed(wanted: _Wanted, error: gateway.GatewayError, *, actor: Actor, now: dt.datetime) -> None:
    """Stripe refused or could not be reached: its words go to the log and the audit trail, not the page."""
    logger.error("Card payment for %s could not be started: %s (code %r, status %s)", wanted.customer.code,
                 error.message, error.code, error.status)
    audit_record(
        actor=actor, action="finance.card_payment.start_failed", app=APP, obj=wanted.customer,
        customer_id=wanted.customer.pk, reason=f"Stripe: {error.message}"[:500],
        after={"amount": wanted.amount, "currency": wanted.customer.currency,
               "invoice": wanted.invoice.number if wanted.invoice else "",
               "processor_error": error.message[:500], "processor_code": error.code},
        at=now,
    )


def _close_open_checkout(payment: CardPayment, *, to: str, actor: Actor, now: dt.datetime,
                         reason: str = "") -> CardPayment:
    """Close an open Checkout payment (cancelled by the customer, or expired): its session is expired at
    Stripe first, so nothing can be paid on it afterwards; if Stripe says it was paid before that, it is
    credited instead (_apply_paid). Raises GatewayError when Stripe cannot be asked (nothing changes)."""
    facts = gateway.checkout_session_expire(payment.checkout_session_id)
    if facts.paid:
        return _apply_paid(facts, actor=actor, now=now, reason=reason)[0] or payment
    if facts.session_status != "expired":
        raise gateway.GatewayError(f"Stripe reports the session {payment.checkout_session_id} as "
                                   f"{facts.session_status or 'unknown'} after expiring it.", code="not_expired")
    return _mark_closed(payment.pk, to=to, actor=actor, now=now, reason=reason)


@transaction.atomic
def _mark_closed(card_payment_id: int, *, to: str, actor: Actor, now: dt.datetime, reason: str) -> CardPayment:
    payment = _lock_card_payment(card_payment_id)
    if payment.status not in OPEN_CHECKOUT_STATUSES:
        return payment  # credited or closed meanwhile
    before = {"status": payment.status}
    stamp = {"cancelled_at": now} if to == CardPaymentStatus.CANCELLED else {"expired_at": now}
    CardPayment.objects.filter(pk=payment.pk).update(status=to, **stamp)
    CardPaymentInvoice.objects.filter(card_payment_id=payment.pk).update(open=False)
    payment.refresh_from_db()
    action = "finance.card_payment.cancel" if to == CardPaymentStatus.CANCELLED else "finance.card_payment.expire"
    audit_record(actor=actor, action=action, app=APP, obj=payment, customer_id=payment.customer_id,
                 before=before, after={"status": payment.status, "checkout_session": "expired at Stripe"},
                 reason=reason, at=now)
    return payment


def card_payment_fulfil(*, actor: Actor, checkout_session_id: str = "", payment_intent_id: str = "",
                        now: dt.datetime | None = None) -> CardPayment | None:
    """Credit a card payment once Stripe says it is paid: reads the Checkout Session or PaymentIntent from
    Stripe, then applies it in one transaction (see `_apply_paid`). Safe to call any number of times,
    concurrently, from the redirect and every webhook: the credit happens once. Returns the row (None
    when the Stripe object is not one of ours)."""
    if bool(checkout_session_id) == bool(payment_intent_id):
        raise ValueError("Pass exactly one of checkout_session_id and payment_intent_id.")
    known = (CardPayment.objects.filter(checkout_session_id=checkout_session_id) if checkout_session_id
             else CardPayment.objects.filter(payment_intent_id=payment_intent_id)).first()
    if known is not None and known.status == CardPaymentStatus.SUCCEEDED:
        return known  # credited already: no need to ask Stripe again (a reload of the success page)
    facts = (gateway.checkout_session_facts(checkout_session_id) if checkout_session_id
             else gateway.payment_intent_facts(payment_intent_id))
    if facts.paid:
        return _apply_paid(facts, actor=actor, now=now)[0]
    if facts.failure_message and not checkout_session_id:
        return _apply_failed(facts, actor=actor, now=now)[0]
    return _find(facts)


def card_payment_cancel(*, card_payment_id: int, customer_id: int, actor: Actor,
                        now: dt.datetime | None = None) -> CardPayment:
    """The customer cancels a Checkout payment they did not finish (the button on the cancel page). Its
    session is expired at Stripe first, so a payment can no longer land on a cancelled row; if Stripe says it
    was paid before that, the payment is credited instead and returned succeeded. Anything not open (paid,
    cancelled, expired, an off-session charge) is returned unchanged. Raises CardPaymentError when Stripe
    cannot be asked (nothing changes; Stripe's words go to the log)."""
    now = now or timezone.now()
    payment = CardPayment.objects.filter(pk=card_payment_id).first()
    if payment is None or payment.customer_id != customer_id:
        raise CardPaymentError("This card payment does not belong to your account.")
    if payment.channel != CardPaymentChannel.CHECKOUT or payment.status not in OPEN_CHECKOUT_STATUSES:
        return payment
    try:
        return _close_open_checkout(payment, to=CardPaymentStatus.CANCELLED, actor=actor, now=now,
                                    reason="cancelled by the customer")
    except gateway.GatewayError as error:
        logger.error("Card payment %s could not be cancelled: %s", payment.pk, error.message)
        raise CardPaymentError(CANCEL_FAILED) from error


def card_payments_expire(*, actor: Actor, now: dt.datetime | None = None) -> int:
    """The beat job: open Checkout payments whose session has passed its lifetime (Stripe's expires_at, or
    24 h) are expired at Stripe and marked expired, one audit event each; one Stripe says was paid is
    credited instead. A payment Stripe cannot be asked about now is left for the next run. Returns how
    many were closed."""
    now = now or timezone.now()
    stale = (CardPayment.objects.filter(OPEN_CHECKOUT)
             .filter(Q(expires_at__lte=now) | Q(expires_at__isnull=True, created_at__lte=now - SESSION_LIFETIME))
             .order_by("pk"))
    closed = 0
    for payment in stale:
        try:
            _close_open_checkout(payment, to=CardPaymentStatus.EXPIRED, actor=actor, now=now,
                                 reason="the Checkout Session's lifetime is over")
        except (gateway.GatewayError, CardPaymentError) as error:
            logger.warning("Card payment %s not expired this time: %s", payment.pk, error)
            continue
        closed += 1
    return closed


# --- Off-session (daily auto top-up) ----------------------------------------------------------------------
def card_charge_off_session(*, customer_id: int, amount: Decimal, idempotency_key: str, actor: Actor,
                            description: str = "Automatic top-up",
                            now: dt.datetime | None = None) -> CardPayment:
    """Charge the customer's saved card with them away, and credit it when it succeeds.

    `idempotency_key` comes from the caller's own row (e.g. the auto top-up run: "auto-top-up:<id>"), and
    is both the CardPayment's unique key and Stripe's Idempotency-Key: calling again with the same key
    (a redelivered task, a crashed worker) charges at most once and returns the same row. A decline or
    `authentication_required` ends as a recorded failure (status failed, reason kept), never as credits.
    Raises CardPaymentError when there is no saved card, or CHARGE_FAILED (our words: this reaches the
    customer) when Stripe cannot be reached or refuses otherwise (nothing charged that we know of; calling
    again with the same key is safe; Stripe's words are in the log and a charge_unconfirmed audit event).
    One audit event: the outcome."""
    payment = _off_session_row(customer_id=customer_id, amount=amount, idempotency_key=idempotency_key,
                               actor=actor, now=now)
    if payment.status != CardPaymentStatus.PENDING:
        return payment
    try:
        facts = gateway.payment_intent_charge_off_session(
            amount=payment.amount,
            currency=payment.currency,
            stripe_customer_id=payment.stripe_customer_id,
            payment_method_id=payment.payment_method_id,
            description=f"{description} ({payment.customer.code})",
            metadata={"card_payment": str(payment.pk), "customer": str(customer_id), "purpose": payment.purpose},
            idempotency_key=payment.idempotency_key,
        )
    except gateway.CardDeclined as declined:
        facts = gateway.PaymentFacts(
            paid=False, status="requires_payment_method", amount=payment.amount_charged,
            currency=payment.currency, payment_intent_id=declined.payment_intent_id,
            failure_message=declined.message, failure_code=declined.decline_code or declined.code,
            metadata={"card_payment": str(payment.pk)},
        )
        return _apply_failed(facts, actor=actor, now=now)[0] or payment
    except gateway.GatewayError as error:
        _charge_unconfirmed(payment, error, actor=actor, now=now or timezone.now())
        raise CardPaymentError(CHARGE_FAILED) from error
    return _apply_paid(facts, actor=actor, now=now)[0] or payment


@transaction.atomic
def _charge_unconfirmed(payment: CardPayment, error: gateway.GatewayError, *, actor: Actor, now: dt.datetime) -> None:
    """Stripe refused the off-session charge (not a decline) or could not be reached: its words go to the log
    and the audit trail, the customer and the caller get CHARGE_FAILED. The row stays pending: the same key
    is tried again (it charges at most once)."""
    logger.error("Off-session card payment %s could not be charged: %s (code %r, status %s)", payment.pk,
                 error.message, error.code, error.status)
    audit_record(
        actor=actor, action="finance.card_payment.charge_unconfirmed", app=APP, obj=payment,
        customer_id=payment.customer_id, reason=f"Stripe: {error.message}"[:500],
        after={"amount": payment.amount, "processor_error": error.message[:500], "processor_code": error.code},
        at=now,
    )


@transaction.atomic
def _off_session_row(*, customer_id: int, amount: Decimal, idempotency_key: str, actor: Actor,
                     now: dt.datetime | None) -> CardPayment:
    """The CardPayment for an off-session charge: created once per idempotency key, and committed before
    Stripe is called, so a charge that succeeds while we crash is still found and credited by its webhook
    (or by calling again with the same key). It is the attempt's anchor, not a change of money: its audit
    event is the outcome's (finance.card_payment.fulfil or .fail), one per charge."""
    now = now or timezone.now()
    existing = CardPayment.objects.filter(idempotency_key=idempotency_key).select_related("customer").first()
    if existing is not None:
        if existing.customer_id != customer_id or existing.channel != CardPaymentChannel.OFF_SESSION:
            raise CardPaymentError(f"The key {idempotency_key} belongs to another card payment.")
        return existing
    customer = Customer.objects.get(pk=customer_id)
    amount = quantize(Decimal(amount))
    if amount <= ZERO:
        raise CardPaymentError("The amount must be more than zero.")
    if not (customer.stripe_customer_id and customer.stripe_payment_method_id):
        raise CardPaymentError(f"{customer.name} has no saved card to charge.")
    try:
        with transaction.atomic():
            payment = CardPayment.objects.create(
                customer=customer,
                purpose=CardPaymentPurpose.AUTO_TOP_UP,
                channel=CardPaymentChannel.OFF_SESSION,
                amount=amount,
                amount_charged=gateway.chargeable(amount, customer.currency),
                currency=customer.currency,
                idempotency_key=idempotency_key,
                stripe_customer_id=customer.stripe_customer_id,
                payment_method_id=customer.stripe_payment_method_id,
                card_brand=customer.card_brand,
                card_last4=customer.card_last4,
                created_by=actor.label,
                created_at=now,
            )
    except IntegrityError:  # the same key, created concurrently: that one is the payment
        return CardPayment.objects.select_related("customer").get(idempotency_key=idempotency_key)
    return payment


# --- Stripe events ----------------------------------------------------------------------------------------
def stripe_event_process(*, event: dict, actor: Actor, now: dt.datetime | None = None) -> str:
    """Handle one verified Stripe event: stored once by its id (a redelivery is a no-op), then dispatched
    to the card payment it concerns. Unknown types are stored as ignored and acknowledged. Returns what
    happened, for the webhook's response and logs."""
    event_id, event_type = str(event["id"]), str(event["type"])
    obj = gateway.event_object(event)
    object_id = str(obj.get("id", ""))
    # A redelivery of an event already handled: counted, and nothing else (not even a call to Stripe).
    if StripeEvent.objects.filter(event_id=event_id).exclude(status=StripeEventStatus.RECEIVED).update(
            deliveries=F("deliveries") + 1):
        return "duplicate"
    facts, note = None, "ignored: event type not handled"
    if event_type in HANDLED_EVENTS and object_id:
        # Fresh from Stripe, outside any lock: the event only says where to look. An outage raises
        # (the webhook answers 500 and Stripe delivers again later).
        try:
            facts = (gateway.checkout_session_facts(object_id) if event_type.startswith("checkout.session.")
                     else gateway.payment_intent_facts(object_id))
        except gateway.GatewayError as error:
            if error.code != "resource_missing":
                raise
            note = f"ignored: {object_id} is not known to Stripe"
    return _event_apply(note=note, event=event, event_id=event_id, event_type=event_type, object_id=object_id,
                        facts=facts, actor=actor, now=now)


@transaction.atomic
def _event_apply(*, note: str, event: dict, event_id: str, event_type: str, object_id: str,
                 facts: gateway.PaymentFacts | None, actor: Actor, now: dt.datetime | None) -> str:
    now = now or timezone.now()
    with connection.cursor() as cursor:  # stored once (a redelivery counted): a concurrent one waits here
        cursor.execute(
            "INSERT INTO finance_stripeevent (event_id, type, object_id, livemode, status, payload, deliveries,"
            " received_at, result) VALUES (%s, %s, %s, %s, %s, %s::jsonb, 1, %s, '')"
            " ON CONFLICT (event_id) DO UPDATE SET deliveries = finance_stripeevent.deliveries + 1",
            [event_id, event_type[:100], object_id[:255], bool(event.get("livemode")), StripeEventStatus.RECEIVED,
             _json(event), now],
        )
    stored = StripeEvent.objects.select_for_update(of=("self",), no_key=True).get(event_id=event_id)
    if stored.status != StripeEventStatus.RECEIVED:
        return "duplicate"
    payment, changed = None, False
    status, result = StripeEventStatus.IGNORED, note
    reason = f"Stripe event {event_id} ({event_type})"
    if facts is not None:
        try:
            with transaction.atomic():
                if facts.paid:
                    payment, changed = _apply_paid(facts, actor=actor, now=now, reason=reason)
                elif event_type == "payment_intent.payment_failed":
                    payment, changed = _apply_failed(facts, actor=actor, now=now, reason=reason)
                else:
                    payment = _find(facts)
        except CardPaymentError as error:  # a permanent refusal: stored and acknowledged, not retried
            logger.error("Stripe event %s refused: %s", event_id, error)
            result = f"refused: {error}"[:255]
        else:
            if payment is None:
                result = "ignored: not a Ledgerdesk card payment"
            else:
                status, result = StripeEventStatus.PROCESSED, f"card payment {payment.pk}: {payment.status}"
    StripeEvent.objects.filter(pk=stored.pk).update(status=status, processed_at=now, result=result)
    if not changed:  # else the card payment's own event (fulfil / fail, reason: this event) is the one
        audit_record(actor=actor, action="finance.stripe_event.process", app=APP, obj=stored,
                     customer_id=payment.customer_id if payment else None, reason=reason,
                     before={"status": StripeEventStatus.RECEIVED},
                     after={"status": status, "type": event_type, "object_id": object_id, "result": result},
                     at=now)
    return result


def _json(value: dict) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --- applying what Stripe says ----------------------------------------------------------------------------
def _lock_card_payment(card_payment_id: int) -> CardPayment:
    # FOR UPDATE, not NO KEY: what Stripe says may set payment_intent_id, a unique column (a key).
    return CardPayment.objects.select_for_update(of=("self",)).get(pk=card_payment_id)


def _find(facts: gateway.PaymentFacts) -> CardPayment | None:
    """Our row for a Checkout Session or PaymentIntent (by its id, else by the id in its metadata)."""
    if facts.checkout_session_id:
        found = CardPayment.objects.filter(checkout_session_id=facts.checkout_session_id).first()
        if found is not None:
            return found
    if facts.payment_intent_id:
        found = CardPayment.objects.filter(payment_intent_id=facts.payment_intent_id).first()
        if found is not None:
            return found
    ref = parse_id(facts.metadata.get("card_payment"))
    if ref is not None:
        found = CardPayment.objects.filter(pk=ref).first()
        if found is not None and _belongs(found, facts):
            return found
    return None


def _belongs(payment: CardPayment, facts: gateway.PaymentFacts) -> bool:
    """A metadata reference is only trusted when the Stripe ids do not contradict the row."""
    if facts.checkout_session_id and payment.checkout_session_id not in (None, facts.checkout_session_id):
        return False
    if facts.payment_intent_id and payment.payment_intent_id not in (None, facts.payment_intent_id):
        return False
    return str(payment.customer_id) == facts.metadata.get("customer", str(payment.customer_id))


@transaction.atomic
def _apply_paid(facts: gateway.PaymentFacts, *, actor: Actor, now: dt.datetime | None,
                reason: str = "") -> tuple[CardPayment | None, bool]:
    """Credit the payment Stripe says is paid, once; then pay its invoice with the credit, if it has one.
    Returns the row and whether this call credited it. Locks: customer -> invoice -> card payment (the
    project's order)."""
    now = now or timezone.now()
    found = _find(facts)
    if found is None:
        logger.warning("Stripe payment %s / %s is not a Ledgerdesk card payment", facts.checkout_session_id,
                       facts.payment_intent_id)
        return None, False
    customer = lock_customer(found.customer_id)
    linked = CardPaymentInvoice.objects.filter(card_payment_id=found.pk).values_list("invoice_id", flat=True)
    lock_invoices([*linked, *([found.invoice_id] if found.invoice_id else [])])
    payment = _lock_card_payment(found.pk)
    if payment.status == CardPaymentStatus.SUCCEEDED:
        return payment, False  # already credited: the redirect, a webhook or a redelivery got here first
    if facts.currency != payment.currency or facts.amount != payment.amount_charged:
        raise CardPaymentError(
            f"Stripe reports {facts.amount} {facts.currency} for card payment {payment.pk}, which expected "
            f"{payment.amount_charged} {payment.currency}; not credited.")
    before = {"status": payment.status, "usable_credits": customer.usable_credits,
              "current_balance": customer.current_balance}
    card = card_label(facts.card_brand or payment.card_brand, facts.card_last4 or payment.card_last4) or "card"
    label = {CardPaymentPurpose.AUTO_TOP_UP: "Automatic top-up", CardPaymentPurpose.INVOICE:
             f"Card top-up for invoice {payment.invoice.number if payment.invoice_id else ''}",
             CardPaymentPurpose.INVOICES: f"Card top-up for {payment.invoice_links.count()} invoices"}.get(
        payment.purpose, "Online top-up")
    (credit,) = ledger.post(customer, [ledger.Entry(
        kind=TransactionKind.TOP_UP,
        amount=facts.amount,
        reference=facts.payment_intent_id or facts.checkout_session_id,
        description=f"{label} by {card}",
        source_type=SOURCE_TYPE,
        source_id=payment.pk,
        idempotency_key=f"card-payment:{payment.pk}:credit",
    )], at=now)
    CardPayment.objects.filter(pk=payment.pk).update(
        status=CardPaymentStatus.SUCCEEDED,
        credited_at=now,
        credit_transaction=credit,
        payment_intent_id=facts.payment_intent_id or payment.payment_intent_id,
        stripe_customer_id=facts.stripe_customer_id or payment.stripe_customer_id,
        payment_method_id=facts.payment_method_id or payment.payment_method_id,
        card_brand=(facts.card_brand or payment.card_brand)[:20],
        card_last4=(facts.card_last4 or payment.card_last4)[:4],
    )
    CardPaymentInvoice.objects.filter(card_payment_id=payment.pk).update(open=False)
    payment.refresh_from_db()
    card_saved = _remember_card(customer, payment, expiry=(facts.card_exp_month, facts.card_exp_year))
    if card_saved:
        _apply_auto_top_up_choices(payment, actor=actor, now=now)
    paid_invoices: list[dict] = []
    if payment.invoice_id:
        _pay_invoice(payment, actor=actor, now=now)
        customer.refresh_from_db(fields=Customer.RUNNING_TOTALS)
    elif payment.purpose == CardPaymentPurpose.INVOICES:
        paid_invoices = _pay_invoices(payment, actor=actor, now=now)
        customer.refresh_from_db(fields=Customer.RUNNING_TOTALS)
    _queue_receipt_email(payment, customer, at=now)
    audit_record(
        actor=actor, action="finance.card_payment.fulfil", app=APP, obj=payment, customer_id=customer.pk,
        before=before,
        after={"status": payment.status, "credited": facts.amount, "currency": payment.currency,
               "payment_intent_id": payment.payment_intent_id, "card": card, "card_saved": card_saved,
               "invoice": payment.invoice.number if payment.invoice_id else "",
               "invoices": paid_invoices,
               **({"kept_as_credit": payment.amount_kept_as_credit} if paid_invoices else {}),
               "invoice_payment_error": payment.invoice_payment_error, "invoice_outcome": payment.invoice_outcome,
               "usable_credits": customer.usable_credits, "current_balance": customer.current_balance},
        reason=reason, at=now,
    )
    return payment, True


def _remember_card(customer: Customer, payment: CardPayment, *, expiry: tuple[int, int] = (0, 0)) -> bool:
    """Keep the Stripe customer for the next Checkout, and the card when the customer asked to save it.
    The card's expiry (month, year) is Stripe's, read with the payment. A saved card and its Stripe
    customer are kept together: the Stripe customer id is only replaced without a card when no saved card
    belongs to the old one."""
    fields: dict[str, object] = {}
    if (payment.stripe_customer_id and payment.stripe_customer_id != customer.stripe_customer_id
            and not customer.stripe_payment_method_id):
        fields["stripe_customer_id"] = payment.stripe_customer_id
    saved = payment.save_card and bool(payment.payment_method_id and payment.stripe_customer_id)
    if saved:
        fields.update(stripe_customer_id=payment.stripe_customer_id,
                      stripe_payment_method_id=payment.payment_method_id,
                      card_brand=payment.card_brand, card_last4=payment.card_last4,
                      card_exp_month=expiry[0] or None, card_exp_year=expiry[1] or None)
    if fields:
        Customer.objects.filter(pk=customer.pk).update(**fields)
        for name, value in fields.items():
            setattr(customer, name, value)
    return saved


def _apply_auto_top_up_choices(payment: CardPayment, *, actor: Actor, now: dt.datetime) -> None:
    """The card is saved: the customer's choices (trigger amount, limit threshold) become their payment
    settings with the card method and auto top-up on (finance's payment_settings_update_from_portal, which
    records its own event). If the settings refuse them (the minimum top-up was raised meanwhile), the card
    stays saved and the payment credited; the customer can choose again in the next top-up."""
    from .auto_top_up import payment_settings_update_from_portal  # auto_top_up imports this module

    try:
        with transaction.atomic():
            payment_settings_update_from_portal(customer_id=payment.customer_id,
                                                trigger_amount=payment.trigger_amount,
                                                limit_threshold=payment.limit_threshold, actor=actor, at=now)
    except FinanceError as error:
        logger.warning("Card payment %s: auto top-up settings not applied: %s", payment.pk, error)


def _pay_invoice(payment: CardPayment, *, actor: Actor, now: dt.datetime) -> None:
    """The card top-up was for an invoice: pay what it still owes with the credits, in the same
    transaction (the invoice is locked already). If it can no longer be paid (paid meanwhile, e.g. with
    credits in another tab; voided), the money stays as credit, the reason is kept, and the row's
    invoice_outcome says KEPT_AS_CREDIT (the card result page and the receipt tell the customer)."""
    invoice = lock_invoice(payment.invoice_id)
    outcome, error_text = CardPaymentInvoiceOutcome.PAID, ""
    try:
        with transaction.atomic():
            if invoice.amount_outstanding <= ZERO:
                raise FinanceError(f"Invoice {invoice.number} was already paid.")
            invoice_pay_with_credits(invoice=invoice, amount=invoice.amount_outstanding, actor=actor, at=now)
    except FinanceError as error:
        outcome, error_text = CardPaymentInvoiceOutcome.KEPT_AS_CREDIT, str(error)[:500]
    CardPayment.objects.filter(pk=payment.pk).update(invoice_outcome=outcome, invoice_payment_error=error_text)
    CardPaymentInvoice.objects.filter(card_payment_id=payment.pk).update(
        outcome=outcome, error=error_text,
        amount_paid=invoice.amount_outstanding if outcome == CardPaymentInvoiceOutcome.PAID else ZERO)
    payment.invoice_outcome, payment.invoice_payment_error = outcome, error_text


def _pay_invoices(payment: CardPayment, *, actor: Actor, now: dt.datetime) -> list[dict]:
    """The card top-up was for several invoices (locked already, with the customer): the credit pays each
    what it still owes, oldest due first, in this transaction. An invoice that can no longer be paid (paid
    meanwhile in another tab, voided) is skipped and its share stays as credit; so does any share the
    credits no longer cover. Each link row keeps its outcome and amount; the payment's invoice_outcome is
    PAID when every invoice was paid, else KEPT_AS_CREDIT. Its audit lines go into the fulfil event (one
    event for the whole change), not into one invoice_pay_with_credits event each."""
    links = list(CardPaymentInvoice.objects.filter(card_payment_id=payment.pk).select_related("invoice"))
    done: list[dict] = []
    errors: list[str] = []
    for link in sorted(links, key=lambda lk: (lk.invoice.due_date, lk.invoice_id)):
        invoice = lock_invoice(link.invoice_id)  # held already: a fresh read of it
        owed = invoice.amount_outstanding
        try:
            with transaction.atomic():
                if invoice.status == InvoiceStatus.PAID or owed <= ZERO:
                    raise FinanceError(f"Invoice {invoice.number} was already paid.")
                if invoice.status not in OPEN_STATUSES:
                    raise FinanceError(f"Invoice {invoice.number} is {invoice.status_label.lower()}.")
                _pay_with_credits(invoice=invoice, amount=owed, actor=actor, at=now)
        except FinanceError as error:
            errors.append(str(error))
            CardPaymentInvoice.objects.filter(pk=link.pk).update(
                outcome=CardPaymentInvoiceOutcome.KEPT_AS_CREDIT, error=str(error)[:500], amount_paid=ZERO)
            done.append({"invoice": invoice.number, "outcome": CardPaymentInvoiceOutcome.KEPT_AS_CREDIT,
                         "amount": ZERO})
            continue
        CardPaymentInvoice.objects.filter(pk=link.pk).update(outcome=CardPaymentInvoiceOutcome.PAID,
                                                             error="", amount_paid=owed)
        done.append({"invoice": invoice.number, "outcome": CardPaymentInvoiceOutcome.PAID, "amount": owed})
    outcome = CardPaymentInvoiceOutcome.KEPT_AS_CREDIT if errors else CardPaymentInvoiceOutcome.PAID
    error_text = " ".join(errors)[:500]
    # Credits first: the invoices took the older credits before this payment's, so what is left of the
    # customer's credits, up to the charge, is this payment's part that stays as credit.
    left = credit_position(Customer.objects.get(pk=payment.customer_id)).available_for_invoices
    kept = min(max(left, ZERO), payment.amount_charged)
    CardPayment.objects.filter(pk=payment.pk).update(invoice_outcome=outcome, invoice_payment_error=error_text,
                                                     amount_kept_as_credit=kept)
    payment.invoice_outcome, payment.invoice_payment_error = outcome, error_text
    payment.amount_kept_as_credit = kept
    return done


@transaction.atomic
def _apply_failed(facts: gateway.PaymentFacts, *, actor: Actor, now: dt.datetime | None,
                  reason: str = "") -> tuple[CardPayment | None, bool]:
    """Record a failed attempt on our row (never a credit). A succeeded or cancelled row is left alone; the
    same failure recorded twice is one change. Returns the row and whether this call changed it."""
    now = now or timezone.now()
    found = _find(facts)
    if found is None:
        return None, False
    payment = _lock_card_payment(found.pk)
    if payment.status not in (CardPaymentStatus.PENDING, CardPaymentStatus.FAILED):
        return payment, False
    message = (facts.failure_message or "The card payment failed.")[:500]
    code = (facts.failure_code or "")[:64]
    pi = facts.payment_intent_id or payment.payment_intent_id
    if (payment.status == CardPaymentStatus.FAILED and payment.failure_reason == message
            and payment.failure_code == code and payment.payment_intent_id == pi):
        return payment, False
    before = {"status": payment.status, "failure_reason": payment.failure_reason}
    CardPayment.objects.filter(pk=payment.pk).update(status=CardPaymentStatus.FAILED, failure_reason=message,
                                                     failure_code=code, failed_at=now, payment_intent_id=pi)
    payment.refresh_from_db()
    audit_record(actor=actor, action="finance.card_payment.fail", app=APP, obj=payment,
                 customer_id=payment.customer_id, before=before,
                 after={"status": payment.status, "failure_reason": message, "failure_code": code,
                        "payment_intent_id": pi}, reason=reason, at=now)
    return payment, True
