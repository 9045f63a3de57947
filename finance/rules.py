"""The allocation rules as pure checks (no writes), shared by the allocate service (under its locks) and
the read-only preview (without locks), so the preview refuses exactly what the service would; and the last
guard every finance service that applies money to an invoice or takes money off the billed side runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from customers.models import Customer
from customers.money import ZERO, MoneyError, display, parse_amount
from invoices.models import OPEN_STATUSES, Invoice, InvoiceStatus, InvoiceType
from invoices.selectors import unapplied_money

from .models import MAX_ASSIGNMENT_CHANGES, Payment
from .services._common import FinanceError


class AllocationError(FinanceError):
    """An allocation (or its undo) refused; nothing was changed."""


def money_in_refusal(unapplied: Decimal) -> str | None:
    """Why a service's writes must not stand, or None: the money in that no invoice has used yet
    (invoices.selectors.unapplied_money = amount due + outstanding on open purchase / monthly invoices) went
    below zero, i.e. the customer's invoices were applied more money than came in."""
    if unapplied >= ZERO:
        return None
    return (f"This would apply {display(-unapplied)} more to the customer's invoices than the money received "
            "(payments, credit notes, credits) covers: the same money cannot settle two invoices.")


def guard_money_in(customer: Customer, *, error: type[FinanceError]) -> None:
    """The last guard, after a service's writes, under the customer's lock (the caller passes the row it
    locked and posted through, so its amount due is current; one query). Each service's own checks keep
    the figure up already (payment cash is never more than the unapplied money, credits are held to the
    credit balance); this refuses, instead of committing, whatever a mistake in them would let through.
    The database cannot hold a sum over several tables with a CHECK; check_finance reports it afterwards."""
    refusal = money_in_refusal(unapplied_money(customer))
    if refusal:
        raise error(refusal)


def invoice_refusal(invoice: Invoice) -> str | None:
    """Why `invoice` cannot take money now, or None."""
    if invoice.status == InvoiceStatus.VOID:
        return f"Invoice {invoice.number} is void; nothing can be allocated to it."
    if invoice.status == InvoiceStatus.DRAFT:
        if invoice.type == InvoiceType.TOP_UP:
            return (f"Top-up invoice {invoice.number} has not been sent; send it or mark it as sent before "
                    "allocating a payment to it.")
        return f"Invoice {invoice.number} is a draft; send it before allocating a payment to it."
    if invoice.status == InvoiceStatus.PAID:
        return f"Invoice {invoice.number} is already paid."
    if invoice.status not in OPEN_STATUSES:
        return f"Invoice {invoice.number} is {invoice.status_label.lower()}; it cannot take a payment."
    return None


def normalise_lines(lines: Sequence[tuple[object, object]]) -> list[tuple[int, Decimal]]:
    """(invoice id, amount) pairs with exact positive amounts, each invoice once."""
    if not lines:
        raise AllocationError("Pick at least one invoice to allocate to.")
    seen: set[int] = set()
    out = []
    for invoice_id, raw in lines:
        try:
            invoice_id = int(invoice_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise AllocationError("One of the invoices does not exist.")
        if invoice_id in seen:
            raise AllocationError("The same invoice is listed twice; give one amount per invoice.")
        seen.add(invoice_id)
        try:
            amount = parse_amount(raw, field="Amount")
        except MoneyError as exc:
            raise AllocationError(str(exc))
        out.append((invoice_id, amount))
    return out


def assign_refusal(payment: Payment, customer: Customer) -> str | None:
    """Why an unassigned payment cannot be assigned to `customer` (Assign, or Assign & allocate), or None."""
    if payment.assignment_changes >= MAX_ASSIGNMENT_CHANGES:
        return (f"Payment #{payment.pk} has used all {MAX_ASSIGNMENT_CHANGES} assignment changes (assign, "
                "un-assign, assign, un-assign, assign); it cannot be assigned again.")
    if payment.currency != customer.currency:
        return (f"Payment #{payment.pk} is in {payment.currency} but {customer.name} pays in {customer.currency}; "
                "a payment can only go to a customer of its currency.")
    return None


def check_allocation(payment: Payment, customer: Customer, invoices: Mapping[int, Invoice],
                     lines: list[tuple[int, Decimal]]) -> Decimal:
    """Every refusal of an allocation, in the order a user would want to hear them; returns the total."""
    if payment.deleted_at is not None:
        raise AllocationError(f"Payment #{payment.pk} was deleted.")
    if payment.customer_id is not None and payment.customer_id != customer.pk:
        raise AllocationError(f"Payment #{payment.pk} belongs to another customer; it can only be allocated to "
                              f"that customer's invoices (un-assign it first to move it to {customer.name}).")
    if payment.customer_id is None and (refusal := assign_refusal(payment, customer)):
        raise AllocationError(refusal)  # "Assign & allocate"
    for invoice_id, amount in lines:
        invoice = invoices.get(invoice_id)
        if invoice is None or invoice.customer_id != customer.pk:
            raise AllocationError("The invoices belong to different customers; allocate to one customer's "
                                  "invoices at a time.")
        if invoice.currency != payment.currency:
            raise AllocationError(f"Invoice {invoice.number} is in {invoice.currency} but payment #{payment.pk} "
                                  f"is in {payment.currency}.")
        refusal = invoice_refusal(invoice)
        if refusal:
            raise AllocationError(refusal)
        if invoice.type == InvoiceType.TOP_UP:
            if invoice.status != InvoiceStatus.SENT or invoice.provisioned_at is not None:
                raise AllocationError(f"Top-up invoice {invoice.number} is already provisioned.")
            if amount != invoice.amount_outstanding:
                raise AllocationError(f"A top-up invoice is paid in full: allocate exactly "
                                      f"{display(invoice.amount_outstanding)} to {invoice.number}.")
        elif amount > invoice.amount_outstanding:
            raise AllocationError(f"Invoice {invoice.number} has only {display(invoice.amount_outstanding)} outstanding; "
                                  f"{display(amount)} would overpay it.")
    total = sum((a for _, a in lines), ZERO)
    if total > payment.amount_unallocated:
        raise AllocationError(f"Payment #{payment.pk} has only {display(payment.amount_unallocated)} unallocated; "
                              f"{display(total)} was asked.")
    return total
