"""What a customer sees of their own payments (the portal's Payments page) and the receipt of a card
payment. Customer-facing fields only, by allow-list: the rows carry exactly the columns named in
PAYMENT_COLUMNS (no internal remarks, no staff names, no Stripe ids, no failure codes), and a receipt is
built field by field from the card payment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import CharField, DateTimeField, F, QuerySet, Value
from django.db.models.functions import Coalesce, Concat
from django.shortcuts import get_object_or_404

from customers.models import Customer, card_label
from customers.money import ZERO, display
from invoices.models import InvoiceStatus, InvoiceType

from ..models import (
    Allocation,
    AllocationSource,
    CardPayment,
    CardPaymentInvoice,
    CardPaymentInvoiceOutcome,
    CardPaymentPurpose,
    CardPaymentStatus,
    TopUp,
)

# The rows of the Payments page: one column list for the three kinds (a UNION), in this order.
PAYMENT_COLUMNS = ("kind", "row_id", "at", "amount", "currency", "status", "invoice_number", "reference", "card")


class PaymentKind:
    CARD = "card"
    ALLOCATION = "allocation"
    TOP_UP = "top_up"
    CHOICES = [(CARD, "Card payment"), (ALLOCATION, "Payment applied to an invoice"), (TOP_UP, "Top-up")]
    LABELS = dict(CHOICES)


# Card payments the customer sees: paid, failed or still awaiting payment (never a cancelled attempt, nor any
# status added later unless it is added here).
CARD_STATUSES_SHOWN = (CardPaymentStatus.SUCCEEDED, CardPaymentStatus.FAILED, CardPaymentStatus.PENDING)
CARD_STATUS_LABELS = {CardPaymentStatus.SUCCEEDED: "Paid", CardPaymentStatus.FAILED: "Failed",
                      CardPaymentStatus.PENDING: "Awaiting payment", "applied": "Applied", "credited": "Credited"}

_TEXT = CharField()


def _text(value: str) -> Value:
    return Value(value, output_field=_TEXT)


def _card_rows(customer: Customer) -> QuerySet:
    return (CardPayment.objects.filter(customer=customer, status__in=CARD_STATUSES_SHOWN)
            .annotate(p_kind=_text(PaymentKind.CARD), p_row_id=F("id"),
                      p_at=Coalesce("credited_at", "failed_at", "created_at", output_field=DateTimeField()),
                      p_amount=F("amount_charged"), p_currency=F("currency"), p_status=F("status"),
                      p_invoice_number=Coalesce("invoice__number", _text("")), p_reference=_text(""),
                      p_card=Concat("card_brand", _text(" "), "card_last4", output_field=_TEXT)))


def _allocation_rows(customer: Customer) -> QuerySet:
    """The customer's bank payments applied to their invoices (a top-up invoice's allocation shows as its
    top-up instead; reversed allocations are left out: they no longer settle anything)."""
    return (Allocation.objects.filter(customer=customer, source=AllocationSource.PAYMENT, reversed_at__isnull=True)
            .exclude(invoice__type=InvoiceType.TOP_UP)
            .annotate(p_kind=_text(PaymentKind.ALLOCATION), p_row_id=F("id"), p_at=F("created_at"), p_amount=F("amount"),
                      p_currency=F("payment__currency"), p_status=_text("applied"),
                      p_invoice_number=F("invoice__number"), p_reference=F("payment__reference"), p_card=_text("")))


def _top_up_rows(customer: Customer) -> QuerySet:
    """Payment top-ups and provisioned top-up invoices still standing."""
    return (TopUp.objects.filter(customer=customer, removed_at__isnull=True)
            .annotate(p_kind=_text(PaymentKind.TOP_UP), p_row_id=F("id"), p_at=F("created_at"), p_amount=F("amount"),
                      p_currency=F("payment__currency"), p_status=_text("credited"),
                      p_invoice_number=Coalesce("invoice__number", _text("")), p_reference=F("payment__reference"),
                      p_card=_text("")))


@dataclass(frozen=True)
class PaymentRow:
    kind: str
    row_id: int
    at: dt.datetime
    amount: Decimal
    currency: str
    status: str
    invoice_number: str
    reference: str
    card: str

    @property
    def kind_label(self) -> str:
        return PaymentKind.LABELS[self.kind]

    @property
    def status_label(self) -> str:
        return CARD_STATUS_LABELS.get(self.status, self.status)

    @property
    def has_receipt(self) -> bool:
        return self.kind == PaymentKind.CARD and self.status == CardPaymentStatus.SUCCEEDED

    @property
    def receipt_number(self) -> str:
        return _receipt_number(self.row_id) if self.has_receipt else ""

    @property
    def card_shown(self) -> str:
        brand, _, last4 = self.card.partition(" ")
        return card_label(brand, last4)


class _Rows:
    """A UNION query of the three kinds, sliced by the paginator, giving PaymentRow objects."""

    def __init__(self, qs: QuerySet) -> None:
        self.qs = qs

    def count(self) -> int:
        return self.qs.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        rows = self.qs[item]
        if isinstance(item, slice):
            return [PaymentRow(*row) for row in rows]
        return PaymentRow(*rows)

    def __iter__(self):
        return (PaymentRow(*row) for row in self.qs.iterator(chunk_size=2000))


def customer_payments(customer: Customer, *, kind: str = "", date_from: dt.date | None = None,
                      date_to: dt.date | None = None) -> _Rows:
    """The customer's card payments, bank payments applied to their invoices and top-ups, newest first, as
    PaymentRow (the PAYMENT_COLUMNS only): one UNION query a page, one COUNT."""
    parts = {PaymentKind.CARD: _card_rows, PaymentKind.ALLOCATION: _allocation_rows, PaymentKind.TOP_UP: _top_up_rows}
    chosen = [build(customer) for name, build in parts.items() if kind in ("", name)]
    columns = [f"p_{name}" for name in PAYMENT_COLUMNS]
    queries = []
    for qs in chosen:
        if date_from:
            qs = qs.filter(p_at__date__gte=date_from)
        if date_to:
            qs = qs.filter(p_at__date__lte=date_to)
        queries.append(qs.order_by().values_list(*columns))
    combined = queries[0].union(*queries[1:], all=True) if len(queries) > 1 else queries[0]
    return _Rows(combined.order_by("-p_at", "-p_row_id"))


# --- receipts ---------------------------------------------------------------------------------------------
def receipt_payment(customer: Customer, card_payment_id: int) -> CardPayment:
    """One of the customer's paid card payments, or 404 (another customer's, unpaid, unknown)."""
    return get_object_or_404(CardPayment.objects.select_related("invoice", "customer"), customer=customer,
                             pk=card_payment_id, status=CardPaymentStatus.SUCCEEDED)


def stays_as_credit_note(payment: CardPayment) -> str:
    """For a card payment made to pay an invoice that the money did not settle (paid meanwhile, voided):
    what the customer is told, on the page and on the receipt. "" otherwise. The marker is the reason kept
    on the card payment when its credit could not pay the invoice (`invoice_outcome`, kept_as_credit)."""
    if (payment.purpose != CardPaymentPurpose.INVOICE or payment.status != CardPaymentStatus.SUCCEEDED
            or not payment.kept_as_credit or payment.invoice is None):
        return ""
    invoice = payment.invoice
    if invoice.status == InvoiceStatus.PAID:
        return f"Invoice {invoice.number} was already paid; this payment stays as credit on your account."
    return (f"Invoice {invoice.number} could not be paid with it (it is {invoice.status_label.lower()}); "
            "this payment stays as credit on your account.")


@dataclass(frozen=True)
class InvoicePaid:
    """What a several-invoice card payment did for one of its invoices."""

    number: str
    paid: bool
    amount: Decimal  # what the credit paid on it (0 when not paid)
    note: str


def invoices_paid(payment: CardPayment) -> list[InvoicePaid]:
    """A credited several-invoice payment's invoices, oldest due first, each paid (and with how much) or
    not (already paid meanwhile, or it could not be paid: its share stays as credit). [] otherwise."""
    if payment.purpose != CardPaymentPurpose.INVOICES or payment.status != CardPaymentStatus.SUCCEEDED:
        return []
    links = (CardPaymentInvoice.objects.filter(card_payment=payment).select_related("invoice")
             .order_by("invoice__due_date", "invoice_id"))
    shown = []
    for link in links:
        invoice = link.invoice
        paid = link.outcome == CardPaymentInvoiceOutcome.PAID
        note = "" if paid else (
            f"Invoice {invoice.number} was already paid; its share stays as credit on your account."
            if invoice.status == InvoiceStatus.PAID else
            f"Invoice {invoice.number} could not be paid (it is {invoice.status_label.lower()}); "
            "its share stays as credit on your account.")
        shown.append(InvoicePaid(number=invoice.number, paid=paid, amount=link.amount_paid if paid else ZERO,
                                 note=note))
    return shown


def left_as_credit(payment: CardPayment, lines: list[InvoicePaid]) -> Decimal:
    """How much of a several-invoice card payment stays as credit (kept when it was credited: what the
    customer's credits were after paying its invoices, up to the charge; see cards._pay_invoices)."""
    return payment.amount_kept_as_credit if lines else ZERO


@dataclass(frozen=True)
class Receipt:
    """A card payment's receipt, customer-facing fields only."""

    number: str
    paid_at: dt.datetime
    customer_name: str
    customer_code: str
    billing_email: str
    description: str
    card: str
    amount: Decimal
    currency: str
    invoice_number: str
    credit_note: str
    seller: dict
    invoices: tuple[InvoicePaid, ...] = ()
    left_as_credit: Decimal = ZERO


def _receipt_number(card_payment_id: int) -> str:
    return f"RCPT-{card_payment_id:06d}"


def receipt_number(payment: CardPayment) -> str:
    return _receipt_number(payment.pk)


def receipt(payment: CardPayment) -> Receipt:
    if payment.status != CardPaymentStatus.SUCCEEDED:
        raise ValueError("Only a paid card payment has a receipt.")
    card = card_label(payment.card_brand, payment.card_last4) or "Card"
    lines = invoices_paid(payment)
    description = {CardPaymentPurpose.INVOICE: f"Card payment for invoice {payment.invoice.number}"
                   if payment.invoice_id else "Card payment",
                   CardPaymentPurpose.INVOICES: f"Card payment for {len(lines)} invoices",
                   CardPaymentPurpose.AUTO_TOP_UP: "Automatic top-up by card"}.get(payment.purpose, "Online top-up by card")
    return Receipt(
        number=receipt_number(payment), paid_at=payment.credited_at, customer_name=payment.customer.name,
        customer_code=payment.customer.code, billing_email=payment.customer.billing_email, description=description,
        card=card, amount=payment.amount_charged, currency=payment.currency,
        invoice_number=payment.invoice.number if payment.invoice_id else "",
        credit_note=stays_as_credit_note(payment) or _invoices_credit_note(payment, lines),
        seller=settings.LEDGERDESK_SELLER, invoices=tuple(lines),
        left_as_credit=left_as_credit(payment, lines) if lines else ZERO,
    )


def _invoices_credit_note(payment: CardPayment, lines: list[InvoicePaid]) -> str:
    if not lines:
        return ""
    notes = [line.note for line in lines if line.note]
    rest = left_as_credit(payment, lines)
    if rest > ZERO:
        notes.append(f"{display(rest)} {payment.currency} of this payment stays as credit on your account.")
    return " ".join(notes)


def receipt_filename(payment: CardPayment) -> str:
    return f"{receipt_number(payment)}.pdf"


__all__ = ["PAYMENT_COLUMNS", "InvoicePaid", "PaymentKind", "PaymentRow", "Receipt", "customer_payments",
           "invoices_paid", "left_as_credit",
           "receipt", "receipt_filename", "receipt_number", "receipt_payment", "stays_as_credit_note"]
