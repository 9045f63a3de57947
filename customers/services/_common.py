"""What the customers services share: finding and locking a customer with a clear error, and the figures
an audit event records before and after a change of money."""

from __future__ import annotations

from decimal import Decimal

from ..locks import lock_customer
from ..models import Customer
from ..money import MoneyError, display, parse_amount


def locked_customer(customer_id: int, error: type[Exception], *, key_change: bool = False) -> Customer:
    try:
        return lock_customer(customer_id, key_change=key_change)
    except Customer.DoesNotExist:
        raise error(f"There is no customer #{customer_id}.")


def figures(customer: Customer) -> dict[str, Decimal]:
    """The figures of a (freshly locked or refreshed) customer, for an audit event's before/after."""
    return {
        "expecting_invoice": customer.amount_unbilled,
        "amount_due": customer.amount_due,
        "reserved_credits": customer.amount_reserved,
        "usable_credits": customer.usable_credits,
    }


def amount_or_error(raw: object, error: type[Exception], *, field: str = "Amount", allow_zero: bool = False,
                    allow_negative: bool = False, maximum: Decimal | None = None) -> Decimal:
    """parse_amount, re-raised as the calling module's domain error."""
    try:
        return parse_amount(raw, field=field, allow_zero=allow_zero, allow_negative=allow_negative, maximum=maximum)
    except MoneyError as exc:
        raise error(str(exc))


def money_text(amount: Decimal, currency: str) -> str:
    return f"{display(amount)} {currency}"
