"""How much of an invoice is settled. The only code that changes Invoice.amount_paid / amount_credited and
the payment-driven status. Primitives: the caller holds the invoice's row lock (invoices.locks), runs in
its own service transaction and records the audit event. Allocations (finance) and credit applications
call apply/unapply; credit notes call credit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import F

from customers.money import ZERO

from .models import OPEN_STATUSES, Invoice, InvoiceStatus


class SettlementError(ValueError):
    """The invoice cannot take (or give back) this amount; the message says why."""


def status_for(total: Decimal, paid: Decimal, credited: Decimal) -> str:
    if credited >= total and paid == ZERO and total > ZERO:
        return InvoiceStatus.VOID  # cancelled in full by credit notes
    if paid + credited >= total:
        return InvoiceStatus.PAID
    if paid > ZERO or credited > ZERO:
        return InvoiceStatus.PARTIALLY_PAID
    return InvoiceStatus.SENT


def apply(invoice: Invoice, amount: Decimal, *, at: dt.datetime) -> Invoice:
    if invoice.status not in OPEN_STATUSES:
        raise SettlementError(f"Invoice {invoice.number} is {invoice.status_label.lower()}; "
                              "only invoices awaiting payment or partially paid can be paid.")
    if amount <= ZERO:
        raise SettlementError("The amount must be more than zero.")
    if amount > invoice.amount_outstanding:
        raise SettlementError(f"Invoice {invoice.number} has only {invoice.amount_outstanding} outstanding.")
    return _move(invoice, paid=amount, credited=ZERO, at=at)


def unapply(invoice: Invoice, amount: Decimal, *, at: dt.datetime) -> Invoice:
    if amount <= ZERO or amount > invoice.amount_paid:
        raise SettlementError(f"Invoice {invoice.number} has only {invoice.amount_paid} paid to give back.")
    return _move(invoice, paid=-amount, credited=ZERO, at=at)


def credit(invoice: Invoice, amount: Decimal, *, at: dt.datetime) -> Invoice:
    if invoice.status not in OPEN_STATUSES:
        raise SettlementError(f"Invoice {invoice.number} is {invoice.status_label.lower()}; "
                              "a credit note can only reduce an invoice that is still owed.")
    if amount <= ZERO or amount > invoice.amount_outstanding:
        raise SettlementError(f"Invoice {invoice.number} has only {invoice.amount_outstanding} outstanding.")
    return _move(invoice, paid=ZERO, credited=amount, at=at)


def _move(invoice: Invoice, *, paid: Decimal, credited: Decimal, at: dt.datetime) -> Invoice:
    new_paid = invoice.amount_paid + paid
    new_credited = invoice.amount_credited + credited
    status = status_for(invoice.total, new_paid, new_credited)
    fields = {"amount_paid": F("amount_paid") + paid, "amount_credited": F("amount_credited") + credited,
              "status": status}
    if status == InvoiceStatus.PAID and invoice.paid_at is None:
        fields["paid_at"] = at
    if status != InvoiceStatus.PAID:
        fields["paid_at"] = None
    if status == InvoiceStatus.VOID:
        fields["voided_at"] = at
    Invoice.objects.filter(pk=invoice.pk).update(**fields)
    invoice.refresh_from_db()
    return invoice
