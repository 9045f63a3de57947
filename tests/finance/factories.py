"""Finance test data made through the services (payments, invoices), so the ledger and the cached totals
always equal their rows.

    from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from customers.locks import lock_customer
from customers.models import AccountType, Customer, InvoiceSetup, TransactionKind
from finance.models import Payment, PaymentMethod
from finance.services.payments import payment_record
from invoices.models import Invoice, InvoiceType
from invoices.services.common import LineSpec, issue
from invoices.services.lifecycle import (
    PurchaseLine,
    create_invoice,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_mark_sent,
)
from tests.customers.factories import CustomerFactory

SYSTEM = Actor.system("tests")
TODAY = dt.date(2026, 3, 15)


def customer(setup: str = InvoiceSetup.INDIVIDUAL, *, credit_limit: str | Decimal = "0", **kwargs) -> Customer:
    account_type = AccountType.POSTPAID if Decimal(credit_limit) else AccountType.PREPAID
    return CustomerFactory(invoice_setup=setup, account_type=account_type, credit_limit=Decimal(credit_limit),
                           **kwargs)


def payment(cust: Customer | None = None, amount: str | Decimal = "100", *, currency: str = "",
            received_date: dt.date | None = None, method: str = PaymentMethod.BANK_TRANSFER,
            reference: str = "", **kwargs) -> Payment:
    return payment_record(customer=cust, amount=Decimal(amount), currency=currency,
                          received_date=received_date or timezone.localdate(),
                          method=method, reference=reference, actor=SYSTEM, **kwargs)


def purchase_invoice(cust: Customer, total: str | Decimal = "50", *, sent: bool = True,
                     issue_date: dt.date | None = None, due_date: dt.date | None = None,
                     at: dt.datetime | None = None) -> Invoice:
    """An `individual` customer's purchase invoice of exactly `total` (no tax), sent unless told (at `at`)."""
    invoice = invoice_create_purchase(customer_id=cust.pk, actor=SYSTEM, issue_date=issue_date, due_date=due_date,
                                      at=at, lines=[PurchaseLine(description="Cloud PBX seats", quantity="1",
                                                                 unit_price=str(total), tax_rate="0")])
    if sent:
        invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM, at=at)
    cust.refresh_from_db()
    return invoice


def monthly_invoice(cust: Customer, total: str | Decimal = "80", *, issue_date: dt.date | None = None,
                    due_date: dt.date | None = None) -> Invoice:
    """A sent monthly invoice of `total` for any setup (a manual line, as the billing run would issue)."""
    issue_date = issue_date or timezone.localdate()
    earlier = Invoice.objects.filter(customer=cust, type=InvoiceType.MONTHLY).count()
    month = issue_date.year * 12 + issue_date.month - 2 - earlier  # the month before, then one earlier each
    period_start = dt.date(month // 12, month % 12 + 1, 1)
    with transaction.atomic():
        locked = lock_customer(cust.pk)
        invoice = create_invoice(customer=locked, type=InvoiceType.MONTHLY, name="Monthly invoice",
                                 billing_to=cust.name,
                                 specs=[LineSpec(description="Usage", quantity=Decimal(1),
                                                 unit_price=Decimal(total), tax_rate=Decimal(0),
                                                 kind=TransactionKind.CALL)],
                                 issue_date=issue_date, due_date=due_date or issue_date + dt.timedelta(days=30),
                                 period_start=period_start)
        issue(invoice, locked, at=timezone.now())
    cust.refresh_from_db()
    return invoice


def top_up_invoice(cust: Customer, amount: str | Decimal = "100", *, sent: bool = True) -> Invoice:
    invoice = invoice_create_top_up(customer_id=cust.pk, amount=str(amount), actor=SYSTEM)
    if sent:
        invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
    return invoice


def refreshed(*objs):
    for o in objs:
        o.refresh_from_db()
    return objs
