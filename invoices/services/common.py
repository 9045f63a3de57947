"""What the invoices services share: the arithmetic of lines and totals, dates and settings, issuing an
invoice onto the customer's ledger, and queueing its email. Internal helpers: they record no audit event
(the calling service records its one event) and run inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.actors import Actor
from customers import ledger
from customers.models import Bucket, Customer, Notification, NotificationKind, TransactionKind
from customers.money import ZERO, quantize

from ..models import Invoice, InvoiceLine, InvoiceStatus, InvoiceType

INVOICE_SERIES = "INV"
HUNDRED = Decimal(100)

PRIMITIVE = "primitive: runs inside the calling service's transaction, which records the one audit event"
PURE = "pure helper: computes or formats, writes nothing"
AUDIT_EXEMPT = {
    "tax_rate": PURE, "payment_terms_days": PURE, "local_date": PURE, "line_amount": PURE, "line_tax": PURE,
    "totals_of": PURE, "default_billing_to": PURE, "email_subject": PURE, "snapshot": PURE,
    "save_lines": PRIMITIVE, "issue": PRIMITIVE, "post_invoice_total": PRIMITIVE, "queue_email": PRIMITIVE,
}


def tax_rate() -> Decimal:
    """The tax rate (percent) on purchase and monthly lines: settings.LEDGERDESK_TAX_RATE (env
    LEDGERDESK_TAX_RATE, default 9 for SGD GST)."""
    return Decimal(str(getattr(settings, "LEDGERDESK_TAX_RATE", "9")))


def payment_terms_days() -> int:
    return int(getattr(settings, "LEDGERDESK_PAYMENT_TERMS_DAYS", 14))


def local_date(at: dt.datetime) -> dt.date:
    """The operator's calendar date of an instant (LEDGERDESK_OPERATOR_TIMEZONE)."""
    return timezone.localtime(at).date()


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return quantize(quantity * unit_price)


def line_tax(amount: Decimal, rate: Decimal) -> Decimal:
    return quantize(amount * rate / HUNDRED)


@dataclass(frozen=True)
class LineSpec:
    """A line as a service builds it, before it is saved. `transaction_id` links a per-entry line to the
    ledger entry it bills; `entry_ids` are the entries an aggregated line bills (InvoiceLineEntry)."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    kind: str = ""
    transaction_id: int | None = None
    entry_ids: tuple[int, ...] = ()

    @property
    def amount(self) -> Decimal:
        return line_amount(self.quantity, self.unit_price)

    @property
    def tax_amount(self) -> Decimal:
        return line_tax(self.amount, self.tax_rate)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax


def totals_of(lines: Iterable[LineSpec]) -> Totals:
    lines = list(lines)
    return Totals(subtotal=sum((ln.amount for ln in lines), ZERO), tax=sum((ln.tax_amount for ln in lines), ZERO))


def default_billing_to(customer: Customer) -> str:
    return f"{customer.name}\n{customer.billing_email}".strip()


def save_lines(invoice: Invoice, specs: list[LineSpec]) -> list[InvoiceLine]:
    """Insert the lines (one INSERT) and the links of aggregated lines (one more)."""
    from ..models import InvoiceLineEntry

    rows = InvoiceLine.objects.bulk_create([
        InvoiceLine(invoice=invoice, position=i, description=s.description[:255], quantity=s.quantity,
                    unit_price=s.unit_price, tax_rate=s.tax_rate, amount=s.amount, tax_amount=s.tax_amount,
                    kind=s.kind, transaction_id=s.transaction_id)
        for i, s in enumerate(specs, start=1)
    ])
    links = [InvoiceLineEntry(line=row, transaction_id=tid) for row, s in zip(rows, specs, strict=True)
             for tid in s.entry_ids]
    if links:
        InvoiceLineEntry.objects.bulk_create(links, batch_size=5000)
    return rows


def issue(invoice: Invoice, customer: Customer, *, at: dt.datetime) -> None:
    """Draft -> sent (awaiting payment) on the ledger, inside the caller's transaction, with the customer
    and the invoice locked (in that order).

    - Top-up invoices post nothing: they ask for a deposit, they are not a debt (provisioning is finance's
      allocation).
    - Purchase invoices bill their own charges: a line with no ledger entry yet (a manual purchase created by
      staff) first posts its charge (its kind, -amount before tax, unbilled); then every line's entry is
      marked billed with the invoice number, so Expecting invoice is unchanged by the purchase.
    - Purchase and monthly invoices then post one INVOICE entry of -total on the due side: Amount due takes
      the invoice total, tax included."""
    assert invoice.status == InvoiceStatus.DRAFT
    if invoice.type == InvoiceType.PURCHASE:
        lines = list(invoice.lines.all())
        unposted = [ln for ln in lines if ln.transaction_id is None and ln.amount > ZERO]
        if unposted:
            posted = ledger.post(customer, [
                ledger.Entry(kind=ln.kind or TransactionKind.SERVICE, amount=-ln.amount, bucket=Bucket.UNBILLED,
                             reference=invoice.number, description=ln.description,
                             source_type="invoices.invoice", source_id=invoice.pk,
                             idempotency_key=f"invoice-line:{ln.pk}")
                for ln in unposted
            ], at=at)
            for ln, row in zip(unposted, posted, strict=True):
                InvoiceLine.objects.filter(pk=ln.pk).update(transaction=row)
                ln.transaction_id = row.pk
        to_bill = [ln.transaction_id for ln in lines if ln.transaction_id is not None]
        if to_bill:
            ledger.mark_billed(customer, to_bill, document=invoice.number, at=at)
    if invoice.type != InvoiceType.TOP_UP:
        post_invoice_total(invoice, customer, at=at)
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.SENT, sent_at=at)
    invoice.refresh_from_db()


def post_invoice_total(invoice: Invoice, customer: Customer, *, at: dt.datetime) -> None:
    if invoice.total:
        ledger.post(customer, [ledger.Entry(
            kind=TransactionKind.INVOICE, amount=-invoice.total, bucket=Bucket.DUE, reference=invoice.number,
            description=f"{invoice.get_type_display()} invoice {invoice.number}", source_type="invoices.invoice",
            source_id=invoice.pk, idempotency_key=f"invoice:{invoice.pk}:issue")], at=at)


def email_subject(invoice: Invoice) -> str:
    return render_to_string("invoices/email/invoice_subject.txt", {
        "invoice": invoice, "seller": settings.LEDGERDESK_SELLER["name"]}).strip()[:200]


def queue_email(invoice: Invoice, customer: Customer, *, at: dt.datetime, actor: Actor,
                via_celery: bool) -> Notification:
    """Record the notification (status "queued") in the caller's transaction and deliver it after commit:
    rendering the PDF and talking to the mail server never happen while a lock is held.

    The Notification row is created here rather than through customers' notification_record service,
    because that service records an audit event of its own and the calling service must record exactly one.
    `via_celery` (batch jobs) hands delivery to a worker; otherwise (a click on "Send") it runs in the
    request right after commit, so staff see the result at once."""
    note = Notification.objects.create(
        customer=customer, kind=NotificationKind.INVOICE, channel="email", recipient=customer.billing_email,
        subject=email_subject(invoice), status="queued", source_type="invoices.invoice", source_id=invoice.pk,
        sent_at=at)
    if via_celery:
        from ..tasks import email_invoice

        transaction.on_commit(lambda: email_invoice.delay(note.pk), robust=True)
    else:
        from .delivery import invoice_email_deliver

        transaction.on_commit(lambda: invoice_email_deliver(notification_id=note.pk, actor=actor), robust=True)
    return note


def snapshot(invoice: Invoice) -> dict:
    """The fields of an invoice an audit event records before and after a change."""
    return {"number": invoice.number, "type": invoice.type, "status": invoice.status, "total": invoice.total,
            "amount_paid": invoice.amount_paid, "amount_credited": invoice.amount_credited,
            "sent_at": invoice.sent_at, "voided_at": invoice.voided_at}
