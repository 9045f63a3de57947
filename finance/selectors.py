"""A customer's credit position and unallocated cash: the figures the finance services, the payments pages,
the reports and the portal all read. The pages' own reads live beside them (payments/selectors.py,
auto_top_up/selectors.py, cards/selectors.py, receivables/selectors.py); integrity checks in checks.py.
Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Sum,
)

from customers.models import Customer
from customers.money import ZERO
from invoices.models import OUTSTANDING, Invoice
from invoices.selectors import unapplied_money

from .models import Payment
from .models.payments import UNALLOCATED


# --- A customer's credit position --------------------------------------------------------------------------
def unallocated_cash(customer: Customer) -> Decimal:
    """What the customer's assigned payments still have unallocated (not allocated to an invoice, not turned
    into credits): the cash part of the money in that no invoice has used yet. One query. The billing run
    asks for it too (services.billing.PAYMENT_CASH) and allocates it to the monthly invoice as ordinary
    payment allocations (services.allocation.allocate_cash_locked), so a payment's unallocated amount is
    always money still free to settle an invoice."""
    return (Payment.objects.filter(customer_id=customer.pk, deleted_at__isnull=True)
            .aggregate(s=Sum(UNALLOCATED))["s"] or ZERO)


@dataclass(frozen=True)
class CreditPosition:
    """What a customer has with us beyond what they owe, from their figures and open documents.

    credit_balance = current balance + outstanding on open non-top-up invoices - unallocated cash - reserved

    The current balance counts open invoices as debt and unallocated payments as CR; adding the first back
    and taking the second out leaves the credits proper: top-ups, account credit notes, minus withdrawals,
    credit already used on invoices, usage not yet invoiced and reservations. Every operation moves it as
    expected: assigning a payment (+x due, +x unallocated) or sending an invoice (-x due, +x outstanding)
    leaves it; a top-up (-x unallocated) raises it; a call, a withdrawal or paying an invoice with credits
    lowers it; allocating a payment (-x outstanding, -x unallocated) leaves it. It excludes the credit limit
    (borrowed, not the customer's).

    `unapplied` is the money in that no invoice has used yet (invoices.selectors.unapplied_money: amount due
    + outstanding); it holds the unallocated cash and `free_credit`, the rest of it (an `individual`
    customer's top-up credit, credit notes on account, credit moved over from unbilled)."""

    customer: Customer
    unallocated_cash: Decimal
    open_outstanding: Decimal
    credit_balance: Decimal

    @property
    def unapplied(self) -> Decimal:
        return self.customer.amount_due + self.open_outstanding

    @property
    def free_credit(self) -> Decimal:
        """Unapplied money on the billed side that is not payment cash."""
        return self.unapplied - self.unallocated_cash

    @property
    def available_for_invoices(self) -> Decimal:
        """What invoice_pay_with_credits can use: unallocated cash first, then the credit balance."""
        return self.unallocated_cash + max(self.credit_balance, ZERO)

    @property
    def withdrawable(self) -> Decimal:
        """max(0, min(amount due, credit balance, free credit)); see services/withdrawals.py."""
        return max(ZERO, min(self.customer.amount_due, self.credit_balance, self.free_credit))


def credit_position(customer: Customer) -> CreditPosition:
    """Two aggregate queries. Under the customer's lock (the services) the figures cannot move meanwhile."""
    unallocated = unallocated_cash(customer)
    outstanding = unapplied_money(customer) - customer.amount_due
    balance = customer.current_balance + outstanding - unallocated - customer.amount_reserved
    return CreditPosition(customer=customer, unallocated_cash=unallocated, open_outstanding=outstanding,
                          credit_balance=balance)


def credit_balances(customer_ids: list[int]) -> dict[int, Decimal]:
    """credit_position(...).credit_balance for many customers in three queries (lists and reports)."""
    if not customer_ids:
        return {}
    outstanding = dict(Invoice.objects.open_receivable().filter(customer_id__in=customer_ids)
                       .values("customer_id").annotate(s=Sum(OUTSTANDING))
                       .order_by().values_list("customer_id", "s"))
    unallocated = dict(Payment.objects.filter(customer_id__in=customer_ids, deleted_at__isnull=True)
                       .values("customer_id").annotate(s=Sum(UNALLOCATED)).order_by()
                       .values_list("customer_id", "s"))
    return {c.pk: c.current_balance + (outstanding.get(c.pk) or ZERO) - (unallocated.get(c.pk) or ZERO)
            - c.amount_reserved for c in Customer.objects.filter(pk__in=customer_ids)}
