"""Recording, editing, deleting, assigning and un-assigning payments.

Ledger (DESIGN.md, decided): assigning a payment posts PAYMENT +amount on the customer's `due` bucket;
un-assigning posts PAYMENT_UNASSIGNED -amount. Editing the amount of an assigned payment posts the
difference as a PAYMENT entry (+ when raised, - when lowered: a correction is a new entry, never an edit).
Deleting an assigned payment (only possible with nothing allocated or topped up) posts PAYMENT_UNASSIGNED
-amount, as an un-assignment would, without counting as an assignment change.

Taking money off the billed side (un-assign, delete, lowering the amount) ends with rules.guard_money_in:
money no invoice has used yet never goes below zero (a payment's unallocated amount is always such money,
so this only catches a mistake)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from customers import ledger
from customers.currencies import CurrencyError, clean_currency
from customers.ledger import Entry
from customers.locks import lock_customer
from customers.models import Customer, TransactionKind
from customers.money import ZERO, display

from ..locks import lock_payment
from ..models import MAX_ASSIGNMENT_CHANGES, Payment, PaymentMethod
from ..rules import assign_refusal, guard_money_in
from ._common import FinanceError, checked_amount, lock_payment_for_change, payment_snapshot, when

SOURCE = "finance.payment"
AUDIT_EXEMPT = {"assign_locked": "primitive run under the caller's locks; the calling service (payment_assign, "
                                 "payment_record, payment_allocate) records the one audit event",
                "record_locked": "payment_record's change without its event, for a service of a higher app that "
                                 "records a payment as part of its own change (banking's reconciliation) and "
                                 "records the one audit event",
                "delete_locked": "payment_delete's change without its event, under the caller's locks; the calling "
                                 "service (payment_delete, banking's undo of a reconciliation) records the event"}


class PaymentError(FinanceError):
    """A payment cannot be recorded, changed, assigned or deleted as asked."""


def _check_fields(*, received_date: dt.date, method: str, at: dt.datetime) -> None:
    if not isinstance(received_date, dt.date):
        raise PaymentError("Received date is required.")
    if received_date > timezone.localdate(at):
        raise PaymentError("Received date cannot be in the future.")
    if method not in PaymentMethod.values:
        raise PaymentError(f"Unknown payment method {method!r}.")


def _check_currency(currency: str) -> str:
    try:
        return clean_currency(currency)
    except CurrencyError as exc:
        raise PaymentError(str(exc))


def _assignment_entry(payment: Payment, amount: Decimal, kind: str, description: str) -> Entry:
    return Entry(kind=kind, amount=amount, reference=payment.reference or f"Payment #{payment.pk}",
                 description=description, source_type=SOURCE, source_id=payment.pk)


def assign_locked(customer: Customer, payment: Payment, *, at: dt.datetime) -> None:
    """Assign an unassigned payment; both rows locked by the caller (also used by payment_allocate's
    "Assign & allocate"). Counts one assignment change; the database refuses a sixth."""
    if payment.customer_id is not None:
        if payment.customer_id == customer.pk:
            raise PaymentError(f"Payment #{payment.pk} is already assigned to {customer.name}.")
        raise PaymentError(f"Payment #{payment.pk} is assigned to another customer; un-assign it first.")
    if refusal := assign_refusal(payment, customer):
        raise PaymentError(refusal)
    Payment.objects.filter(pk=payment.pk).update(customer=customer, assigned_at=at,
                                                 assignment_changes=F("assignment_changes") + 1)
    ledger.post(customer, [_assignment_entry(payment, payment.amount, TransactionKind.PAYMENT,
                                             f"Payment #{payment.pk} assigned")], at=at)
    payment.refresh_from_db()


@transaction.atomic
def payment_record(*, customer: Customer | None, amount: object, received_date: dt.date, method: str,
                   currency: str = "", reference: str = "", invoice_number: str = "", remark: str = "",
                   actor: Actor, at: dt.datetime | None = None) -> Payment:
    """Record money received. With a customer the payment is assigned at once (one assignment change
    used, PAYMENT posted); without one it waits, unassigned, in the payment list."""
    at = when(at)
    locked = lock_customer(customer.pk) if customer is not None else None
    payment, after = record_locked(customer=locked, amount=amount, received_date=received_date, method=method,
                                   currency=currency, reference=reference, invoice_number=invoice_number,
                                   remark=remark, at=at)
    audit_record(actor=actor, app="finance", action="finance.payment.record", obj=payment,
                 customer_id=payment.customer_id, at=at, after=after)
    return payment


def record_locked(*, customer: Customer | None, amount: object, received_date: dt.date, method: str,
                  currency: str = "", reference: str = "", invoice_number: str = "", remark: str = "",
                  at: dt.datetime) -> tuple[Payment, dict]:
    """payment_record without its audit event: `customer` already locked by the caller (or None). Returns the
    payment (locked) and the event's `after`."""
    amount = checked_amount(amount, error=PaymentError)
    _check_fields(received_date=received_date, method=method, at=at)
    if customer is not None:
        currency = _check_currency(currency or customer.currency)
        if currency != customer.currency:
            raise PaymentError(f"{customer.name} pays in {customer.currency}; this payment is in {currency}.")
    else:
        currency = _check_currency(currency or settings.LEDGERDESK_DEFAULT_CURRENCY)
    payment = Payment.objects.create(
        currency=currency, amount=amount, received_date=received_date, method=method,
        reference=reference.strip()[:120], invoice_number=invoice_number.strip()[:64], remark=remark.strip(),
    )
    payment = lock_payment(payment.pk)
    if customer is not None:
        assign_locked(customer, payment, at=at)
    return payment, {**payment_snapshot(payment), "currency": currency, "received_date": received_date,
                     "method": method, "reference": payment.reference, "invoice_number": payment.invoice_number}


@transaction.atomic
def payment_update(*, payment: Payment, amount: object, received_date: dt.date, method: str,
                   reference: str = "", invoice_number: str = "", remark: str = "", currency: str = "",
                   actor: Actor, at: dt.datetime | None = None) -> Payment:
    """Edit a payment. The amount never goes below what is allocated or topped up; the currency can change
    only while the payment is unassigned. An assigned payment's amount change posts the difference."""
    at = when(at)
    amount = checked_amount(amount, error=PaymentError)
    _check_fields(received_date=received_date, method=method, at=at)
    customer, payment = lock_payment_for_change(payment.pk, error=PaymentError)
    used = payment.amount_allocated + payment.amount_topped_up
    if amount < used:
        raise PaymentError(f"The amount cannot go below the {display(used)} already allocated or topped up "
                           f"on payment #{payment.pk}; undo allocations first.")
    currency = _check_currency(currency or payment.currency)
    if currency != payment.currency and customer is not None:
        raise PaymentError(f"Payment #{payment.pk} is assigned to {customer.name}, who pays in "
                           f"{customer.currency}; un-assign it to change its currency.")
    new = {"amount": amount, "received_date": received_date, "method": method,
           "reference": reference.strip()[:120], "invoice_number": invoice_number.strip()[:64],
           "remark": remark.strip(), "currency": currency}
    before = {k: getattr(payment, k) for k in new}
    changed = {k: v for k, v in new.items() if before[k] != v}
    if not changed:
        raise PaymentError("Nothing was changed.")
    Payment.objects.filter(pk=payment.pk).update(**changed, updated_at=at)
    difference = amount - payment.amount
    if customer is not None and difference != ZERO:
        ledger.post(customer, [_assignment_entry(
            payment, difference, TransactionKind.PAYMENT,
            f"Payment #{payment.pk} amount corrected from {payment.amount} to {amount}")], at=at)
        guard_money_in(customer, error=PaymentError)
    payment.refresh_from_db()
    audit_record(actor=actor, app="finance", action="finance.payment.update", obj=payment,
                 customer_id=payment.customer_id, at=at,
                 before={k: before[k] for k in changed}, after=changed)
    return payment


@transaction.atomic
def payment_delete(*, payment: Payment, actor: Actor, reason: str = "",
                   at: dt.datetime | None = None) -> Payment:
    """Delete a payment with nothing allocated or topped up. The row stays (marked deleted) for the
    history; an assigned payment's PAYMENT entry is reversed."""
    at = when(at)
    customer, payment = lock_payment_for_change(payment.pk, error=PaymentError)
    before = delete_locked(customer, payment, at=at)
    audit_record(actor=actor, app="finance", action="finance.payment.delete", obj=payment,
                 customer_id=payment.customer_id, at=at, before=before,
                 after={"deleted_at": payment.deleted_at}, reason=reason)
    return payment


def delete_locked(customer: Customer | None, payment: Payment, *, at: dt.datetime) -> dict:
    """payment_delete without its audit event: the customer (if any) and the payment locked by the caller
    (lock_payment_for_change). Returns the payment's snapshot before; `payment` is refreshed."""
    if payment.amount_allocated or payment.amount_topped_up:
        raise PaymentError(f"Payment #{payment.pk} has {display(payment.amount_allocated + payment.amount_topped_up)} "
                           "allocated or topped up; undo those first, then delete it.")
    before = payment_snapshot(payment)
    Payment.objects.filter(pk=payment.pk).update(deleted_at=at, updated_at=at)
    if customer is not None:
        ledger.post(customer, [_assignment_entry(payment, -payment.amount, TransactionKind.PAYMENT_UNASSIGNED,
                                                 f"Payment #{payment.pk} deleted")], at=at)
        guard_money_in(customer, error=PaymentError)
    payment.refresh_from_db()
    return before


@transaction.atomic
def payment_assign(*, payment: Payment, customer: Customer, actor: Actor,
                   at: dt.datetime | None = None) -> Payment:
    """Assign an unassigned payment to a customer (at most 5 assignment changes in a payment's life)."""
    at = when(at)
    locked_customer = lock_customer(customer.pk)
    payment = lock_payment(payment.pk)
    if payment.deleted_at is not None:
        raise PaymentError(f"Payment #{payment.pk} was deleted; it can no longer be assigned.")
    before = payment_snapshot(payment)
    assign_locked(locked_customer, payment, at=at)
    audit_record(actor=actor, app="finance", action="finance.payment.assign", obj=payment,
                 customer_id=locked_customer.pk, at=at, before=before, after=payment_snapshot(payment))
    return payment


@transaction.atomic
def payment_unassign(*, payment: Payment, actor: Actor, reason: str = "",
                     at: dt.datetime | None = None) -> Payment:
    """Take a payment back from its customer. Refused while anything is allocated or topped up (undo them
    first), and when the payment has used its 5 assignment changes."""
    at = when(at)
    customer, payment = lock_payment_for_change(payment.pk, error=PaymentError)
    if customer is None:
        raise PaymentError(f"Payment #{payment.pk} is not assigned to a customer.")
    if payment.amount_allocated or payment.amount_topped_up:
        raise PaymentError(f"Payment #{payment.pk} still has {display(payment.amount_allocated)} allocated and "
                           f"{display(payment.amount_topped_up)} topped up; undo the allocations and remove the "
                           "top-ups first, then un-assign it.")
    if payment.assignment_changes >= MAX_ASSIGNMENT_CHANGES:
        raise PaymentError(f"Payment #{payment.pk} has used all {MAX_ASSIGNMENT_CHANGES} assignment changes; "
                           "it cannot be un-assigned again.")
    before = payment_snapshot(payment)
    Payment.objects.filter(pk=payment.pk).update(customer=None, assigned_at=None,
                                                 assignment_changes=F("assignment_changes") + 1, updated_at=at)
    ledger.post(customer, [_assignment_entry(payment, -payment.amount, TransactionKind.PAYMENT_UNASSIGNED,
                                             f"Payment #{payment.pk} un-assigned")], at=at)
    guard_money_in(customer, error=PaymentError)
    payment.refresh_from_db()
    audit_record(actor=actor, app="finance", action="finance.payment.unassign", obj=payment,
                 customer_id=customer.pk, at=at, before=before, after=payment_snapshot(payment), reason=reason)
    return payment
