"""Top-ups: money of a payment turned into credits, by provisioning a top-up invoice (an allocation) or by
a top-up payment (no invoice), and their removal while the credits are unspent.

Ledger (DESIGN.md, decided): for `consolidated` / `none` customers a top-up posts TOP_UP as a pair in one
ledger.post, due -x and unbilled +x (the part of the payment that becomes unbilled credit; the current
balance does not move). For `individual` customers the money already stands as CR in the amount due from
the assignment, so nothing is posted; the TopUp row still records it, so it can be removed later. Removal
posts the opposite pair (TOP_UP_REMOVAL) when the top-up was posted, and gives the money back to the
payment's unallocated amount."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F

from audit.actors import Actor
from audit.services import audit_record
from customers import ledger
from customers.ledger import Entry
from customers.locks import lock_customer
from customers.models import Bucket, Customer, InvoiceSetup, TransactionKind
from customers.money import ZERO, display
from invoices import settlement
from invoices.locks import lock_invoice
from invoices.models import Invoice, InvoiceStatus

from ..locks import lock_payment, lock_top_up
from ..models import Allocation, Payment, TopUp
from ..rules import guard_money_in
from ..selectors import credit_position
from ._common import FinanceError, checked_amount, label, lock_payment_for_change, payment_snapshot, when

SOURCE = "finance.topup"
AUDIT_EXEMPT = {
    "provision_locked": "primitive run under payment_allocate's locks; payment_allocate records the event",
    "remove_locked": "primitive run under the caller's locks; top_up_remove / allocation_reverse record the event",
}


class TopUpError(FinanceError):
    """A top-up or its removal refused; nothing was changed."""


def _pair(kind: str, amount, top_up: TopUp, description: str) -> list[Entry]:
    ref = top_up.invoice.number if top_up.invoice_id else f"Payment #{top_up.payment_id}"
    return [
        Entry(kind=kind, amount=-amount, bucket=Bucket.DUE, reference=ref, description=description,
              source_type=SOURCE, source_id=top_up.pk),
        Entry(kind=kind, amount=amount, bucket=Bucket.UNBILLED, reference=ref, description=description,
              source_type=SOURCE, source_id=top_up.pk),
    ]


def _create(customer: Customer, payment: Payment, amount, *, invoice: Invoice | None,
            allocation: Allocation | None, remark: str, actor: Actor, at: dt.datetime) -> TopUp:
    posted = customer.invoice_setup != InvoiceSetup.INDIVIDUAL
    top_up = TopUp.objects.create(customer=customer, payment=payment, invoice=invoice, allocation=allocation,
                                  amount=amount, posted_to_ledger=posted, remark=remark[:255], created_at=at,
                                  created_by=label(actor))
    if posted:
        what = f"Top-up invoice {invoice.number} provisioned" if invoice else f"Top-up from payment #{payment.pk}"
        ledger.post(customer, _pair(TransactionKind.TOP_UP, amount, top_up, what), at=at)
    return top_up


def provision_locked(customer: Customer, invoice: Invoice, payment: Payment, allocation: Allocation, *,
                     actor: Actor, at: dt.datetime) -> TopUp:
    """A top-up invoice just paid in full by `allocation` becomes provisioned: the credits are added. The
    caller (payment_allocate) holds the customer, invoice and payment locks and records the audit event.
    The database refuses a second active provisioning of the same invoice."""
    Invoice.objects.filter(pk=invoice.pk).update(provisioned_at=at)
    invoice.provisioned_at = at
    return _create(customer, payment, allocation.amount, invoice=invoice, allocation=allocation, remark="",
                   actor=actor, at=at)


def _check_unspent(customer: Customer, top_up: TopUp) -> None:
    """The top-up's credits must still be the customer's: the credit balance covers it, and a top-up that
    stayed on the billed side (`individual` customers: nothing was posted) must still be money in that no
    invoice has used and that is not payment cash (CreditPosition.free_credit): removing it gives it back
    to the payment as unallocated cash, which must be money no invoice has used. (An individual customer's
    unbilled CR, such as a positive adjustment, counts in the credit balance but is not that money.)"""
    position = credit_position(customer)
    unspent = position.credit_balance
    if not top_up.posted_to_ledger:
        unspent = min(unspent, position.free_credit)
    if unspent < top_up.amount:
        raise TopUpError(
            f"Only {display(max(unspent, ZERO))} of {customer.name}'s credits are unspent; this top-up of "
            f"{display(top_up.amount)} cannot be removed because part of its credits has already been spent "
            "(or is reserved, used on invoices or withdrawn).")


def remove_locked(customer: Customer, top_up: TopUp, payment: Payment, *, invoice: Invoice | None,
                  actor: Actor, reason: str, at: dt.datetime) -> None:
    """Remove a top-up (all rows locked by the caller); refused while its credits are spent."""
    if top_up.removed_at is not None:
        raise TopUpError(f"Top-up #{top_up.pk} was already removed.")
    _check_unspent(customer, top_up)
    TopUp.objects.filter(pk=top_up.pk).update(removed_at=at, removed_by=label(actor), removal_reason=reason[:255])
    if top_up.posted_to_ledger:
        what = (f"Top-up invoice {invoice.number} un-provisioned" if invoice
                else f"Top-up from payment #{payment.pk} removed")
        ledger.post(customer, _pair(TransactionKind.TOP_UP_REMOVAL, -top_up.amount, top_up, what), at=at)
    if invoice is not None:
        settlement.unapply(invoice, top_up.amount, at=at)
        Invoice.objects.filter(pk=invoice.pk).update(provisioned_at=None)
        invoice.provisioned_at = None
        Allocation.objects.filter(pk=top_up.allocation_id).update(
            reversed_at=at, reversed_by=label(actor), reversal_reason=(reason or "Top-up removed")[:255])
        Payment.objects.filter(pk=payment.pk).update(amount_allocated=F("amount_allocated") - top_up.amount,
                                                     updated_at=at)
    else:
        Payment.objects.filter(pk=payment.pk).update(amount_topped_up=F("amount_topped_up") - top_up.amount,
                                                     updated_at=at)
    payment.refresh_from_db()


@transaction.atomic
def payment_top_up(*, payment: Payment, amount: object, remark: str = "", actor: Actor,
                   at: dt.datetime | None = None) -> TopUp:
    """Turn part or all of a payment's unallocated amount straight into credits (no invoice)."""
    at = when(at)
    amount = checked_amount(amount, error=TopUpError)
    customer, payment = lock_payment_for_change(payment.pk, error=TopUpError)
    if customer is None:
        raise TopUpError(f"Payment #{payment.pk} is not assigned to a customer; assign it before topping up.")
    if payment.currency != customer.currency:
        raise TopUpError(f"Payment #{payment.pk} is in {payment.currency}, {customer.name} in {customer.currency}.")
    if amount > payment.amount_unallocated:
        raise TopUpError(f"Payment #{payment.pk} has only {display(payment.amount_unallocated)} unallocated; "
                         f"{display(amount)} cannot be topped up.")
    before = payment_snapshot(payment)
    top_up = _create(customer, payment, amount, invoice=None, allocation=None, remark=remark, actor=actor, at=at)
    Payment.objects.filter(pk=payment.pk).update(amount_topped_up=F("amount_topped_up") + amount, updated_at=at)
    payment.refresh_from_db()
    guard_money_in(customer, error=TopUpError)
    audit_record(actor=actor, app="finance", action="finance.payment.top_up", obj=payment,
                 customer_id=customer.pk, at=at, before=before,
                 after={**payment_snapshot(payment), "top_up": top_up.pk, "top_up_amount": amount,
                        "posted_to_ledger": top_up.posted_to_ledger})
    return top_up


@transaction.atomic
def top_up_remove(*, top_up: TopUp, actor: Actor, reason: str = "", at: dt.datetime | None = None) -> TopUp:
    """Remove a top-up (a top-up payment, or a provisioned top-up invoice: the invoice goes back to awaiting
    payment) while its credits are unspent; the money goes back to the payment's unallocated amount."""
    at = when(at)
    try:  # the row's links never change: read them fresh rather than trust the caller's instance
        top_up = TopUp.objects.get(pk=top_up.pk)
    except TopUp.DoesNotExist:
        raise TopUpError("This top-up does not exist.")
    customer = lock_customer(top_up.customer_id)
    invoice = lock_invoice(top_up.invoice_id) if top_up.invoice_id else None
    payment = lock_payment(top_up.payment_id)
    top_up = lock_top_up(top_up.pk)
    before = {**payment_snapshot(payment), "removed_at": None,
              **({"invoice_status": invoice.status} if invoice else {})}
    remove_locked(customer, top_up, payment, invoice=invoice, actor=actor, reason=reason, at=at)
    top_up.refresh_from_db()
    after = {**payment_snapshot(payment), "removed_at": top_up.removed_at, "amount": top_up.amount}
    if invoice is not None:
        after["invoice_status"] = InvoiceStatus(invoice.status).value
    audit_record(actor=actor, app="finance", action="finance.top_up.remove", obj=payment,
                 customer_id=customer.pk, at=at, before=before, after=after, reason=reason)
    return top_up
