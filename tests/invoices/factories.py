"""Invoices for tests, made through the services (so the ledger and the audit trail stay consistent).

    from tests.invoices.factories import top_up_invoice, purchase_invoice, usage, monthly_invoice
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from audit.actors import Actor
from customers.models import Customer, Transaction, TransactionKind
from finance.services.billing import PAYMENT_CASH
from invoices.models import Invoice
from invoices.services import (
    PurchaseLine,
    bill_customer_period,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_mark_sent,
)
from tests.customers.factories import ledger_post

SYSTEM = Actor.system("tests")


def top_up_invoice(customer: Customer, amount: Decimal | str = "100", *, sent: bool = False,
                   **kwargs) -> Invoice:
    """A draft top-up invoice, or issued (marked as sent: no email) with sent=True."""
    invoice = invoice_create_top_up(customer_id=customer.pk, amount=Decimal(amount), actor=SYSTEM, **kwargs)
    if sent:
        invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
    return invoice


def purchase_invoice(customer: Customer, lines: list[PurchaseLine] | None = None, *, sent: bool = False,
                     **kwargs) -> Invoice:
    """A draft purchase invoice (default: one service line of 100 + tax), or issued with sent=True (its
    charges posted and billed, its total on the amount due)."""
    lines = lines or [PurchaseLine(description="Onboarding service", quantity="1", unit_price="100",
                                   kind=TransactionKind.SERVICE)]
    invoice = invoice_create_purchase(customer_id=customer.pk, lines=lines, actor=SYSTEM, **kwargs)
    if sent:
        invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
    return invoice


def usage(customer: Customer, amount: Decimal | str, *, kind: str = TransactionKind.CALL,
          at: dt.datetime | None = None, description: str = "") -> Transaction:
    """A usage charge of `amount` (> 0; posted as -amount, unbilled)."""
    return ledger_post(customer, kind, -Decimal(amount), at=at, description=description)


def monthly_invoice(customer: Customer, period: str = "2026-02", *, at: dt.datetime | None = None) -> Invoice | None:
    """Bill the customer's month (the monthly run for one customer); emails are delivered in-process."""
    return bill_customer_period(cash_source=PAYMENT_CASH, customer_id=customer.pk, period=period,
                                actor=SYSTEM,
                                at=at or timezone.now(), via_celery=False)
