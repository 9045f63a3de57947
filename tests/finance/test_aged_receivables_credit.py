"""Found by the bench data: an invoice the monthly billing run paid with the customer's credit (here the
unallocated cash of a payment, which the run allocates through finance) is paid, so aged receivables must not show it as outstanding. At 100,000
customers 30,000 prepaid customers with no open invoice showed as owing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import TransactionKind
from finance.models import Allocation
from finance.receivables.selectors import aged_receivables
from finance.services.billing import PAYMENT_CASH
from invoices.models import InvoiceStatus
from invoices.services.billing import bill_customer_period
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, customer, payment

pytestmark = pytest.mark.django_db


def test_an_invoice_paid_by_the_billing_runs_credit_is_not_outstanding():
    month = (timezone.localdate().replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    in_month = timezone.make_aware(dt.datetime.combine(month + dt.timedelta(days=3), dt.time(10)))
    cust = customer(name="Prepaid Co")
    payment(cust, "500", received_date=month)  # CR in the amount due
    ledger_post(cust, TransactionKind.CALL, "-40", at=in_month)
    bill_at = timezone.make_aware(dt.datetime.combine((month + dt.timedelta(days=32)).replace(day=1), dt.time(2)))
    invoice = bill_customer_period(cash_source=PAYMENT_CASH, customer_id=cust.pk, period=month, actor=SYSTEM,
                                   at=bill_at, via_celery=True)
    assert invoice.status == InvoiceStatus.PAID
    assert Allocation.objects.filter(invoice=invoice, payment__customer=cust).exists()

    report = aged_receivables(timezone.localdate())
    assert [r for r in report.rows if r.customer_id == cust.pk and r.total] == []
    # before the run applied the credit (the day the invoice was issued, before it existed) nothing was owed
    # either, and a day on which the invoice stood unpaid cannot exist: the credit came with it
    assert aged_receivables(bill_at.date() - dt.timedelta(days=1)).totals.get("SGD", {}).get("total",
                                                                                            Decimal(0)) == 0
