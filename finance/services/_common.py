"""What the finance services share: the base domain error, amount checks, and locking a payment together
with the customer it belongs to (customer first, as the lock order says)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from customers.locks import lock_customer
from customers.models import Customer
from customers.money import MoneyError, parse_amount

from ..locks import lock_payment
from ..models import Payment


class FinanceError(ValueError):
    """A finance action refused; the message says why in a finance user's words. Nothing was changed."""


def checked_amount(raw: object, *, error: type[FinanceError], field: str = "Amount",
                   maximum: Decimal | None = None) -> Decimal:
    """An exact, positive amount with at most six decimals (floats refused), at most `maximum` if given, or
    `error` with the reason."""
    try:
        return parse_amount(raw, field=field, maximum=maximum)
    except MoneyError as exc:
        raise error(str(exc))


def when(at: dt.datetime | None) -> dt.datetime:
    return at or timezone.now()


def label(actor) -> str:
    return (actor.label or "")[:150]


def lock_payment_for_change(payment_id: int, *, error: type[FinanceError]) -> tuple[Customer | None, Payment]:
    """Lock the payment's customer (if any), then the payment, and check it still belongs to that customer.

    The customer is read before any lock is held, so a concurrent assign / un-assign may have moved the
    payment in between: then the caller is refused (nothing changed) instead of working on a stale owner.
    Taking the customer lock after the payment's would break the lock order and risk a deadlock."""
    try:
        customer_id = Payment.objects.values_list("customer_id", flat=True).get(pk=payment_id)
    except Payment.DoesNotExist:
        raise error("This payment does not exist.")
    customer = lock_customer(customer_id) if customer_id is not None else None
    payment = lock_payment(payment_id)
    if payment.customer_id != customer_id:
        raise error("This payment was assigned or un-assigned by someone else a moment ago; "
                    "reload the page and try again.")
    if payment.deleted_at is not None:
        raise error(f"Payment #{payment.pk} was deleted; it can no longer be changed.")
    return customer, payment


def payment_snapshot(payment: Payment) -> dict:
    return {
        "customer": payment.customer_id,
        "amount": payment.amount,
        "amount_allocated": payment.amount_allocated,
        "amount_topped_up": payment.amount_topped_up,
        "assignment_changes": payment.assignment_changes,
    }
