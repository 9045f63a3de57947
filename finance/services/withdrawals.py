"""Withdrawals: paying a customer's own credit back to them.

Ledger (DESIGN.md, decided): WITHDRAWAL -amount on `due`. The most that can be withdrawn is
`selectors.credit_position(customer).withdrawable` = max(0, min(amount due, credit balance, free credit)):
- not more than the amount due, since the withdrawal is taken from the billed side and must not turn it
  into a debt (CR money owed on open invoices is not the customer's to take back);
- not more than the credit balance, which leaves out the credit limit (borrowed, not the customer's),
  money still unallocated on payments (it may yet settle an invoice: top it up first), credits already
  spent on usage or held by reservations, and credit already used on invoices;
- not more than the free credit: money in on the billed side that no invoice has used and that is not
  payment cash (CreditPosition.free_credit). A consolidated customer's top-up credit stands in unbilled:
  it is in the credit balance but not on the billed side, so paying it out of the amount due would pay
  out a payment's cash instead (the payment would still show it unallocated, ready to settle an invoice).
Then rules.guard_money_in after the write."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from customers import ledger
from customers.ledger import Entry
from customers.locks import lock_customer
from customers.models import Customer, TransactionKind
from customers.money import display

from ..models import PaymentMethod, Withdrawal
from ..rules import guard_money_in
from ..selectors import credit_position
from ._common import FinanceError, checked_amount, label, when

SOURCE = "finance.withdrawal"


class WithdrawalError(FinanceError):
    """A withdrawal refused; nothing was changed."""


@transaction.atomic
def withdrawal_record(*, customer: Customer, amount: object, method: str, reference: str = "",
                      remark: str = "", currency: str = "", paid_date: dt.date | None = None, actor: Actor,
                      at: dt.datetime | None = None) -> Withdrawal:
    at = when(at)
    amount = checked_amount(amount, error=WithdrawalError)
    if method not in PaymentMethod.values:
        raise WithdrawalError(f"Unknown method {method!r}.")
    paid_date = paid_date or timezone.localdate(at)
    if paid_date > timezone.localdate(at):
        raise WithdrawalError("The paid date cannot be in the future.")
    customer = lock_customer(customer.pk)
    currency = (currency or customer.currency).upper()
    if currency != customer.currency:
        raise WithdrawalError(f"{customer.name}'s credit is in {customer.currency}, not {currency}.")
    position = credit_position(customer)
    if amount > position.withdrawable:
        raise WithdrawalError(
            f"{customer.name} can withdraw at most {display(position.withdrawable)} {customer.currency} of their own "
            f"credit (amount due {display(customer.amount_due)}, credits held {display(position.credit_balance)}); "
            f"{display(amount)} was asked.")
    before = {"amount_due": customer.amount_due}
    withdrawal = Withdrawal.objects.create(customer=customer, currency=currency, amount=amount, method=method,
                                           reference=reference.strip()[:120], remark=remark.strip(),
                                           paid_date=paid_date, created_at=at, created_by=label(actor))
    ledger.post(customer, [Entry(kind=TransactionKind.WITHDRAWAL, amount=-amount,
                                 reference=withdrawal.reference or f"Withdrawal #{withdrawal.pk}",
                                 description=f"Withdrawal #{withdrawal.pk} ({withdrawal.get_method_display()})",
                                 source_type=SOURCE, source_id=withdrawal.pk)], at=at)
    guard_money_in(customer, error=WithdrawalError)
    audit_record(actor=actor, app="finance", action="finance.withdrawal.record", obj=withdrawal,
                 customer_id=customer.pk, at=at, before=before,
                 after={"amount": amount, "method": method, "reference": withdrawal.reference,
                        "amount_due": customer.amount_due})
    return withdrawal
