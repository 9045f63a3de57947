"""The monthly billing run is invoices', what starts it in production is finance's: finance's command and
task hand the run the payments' unallocated cash as an argument (nothing is registered at start-up), and a
run cannot be started without saying where payment cash comes from."""

import datetime as dt
from decimal import Decimal

import pytest
from django.apps import AppConfig, apps
from django.core.management import call_command

from finance.models import Allocation, AllocationSource
from invoices.models import CreditApplication, Invoice, InvoiceStatus, InvoiceType
from invoices.services.billing import bill_customer_period, monthly_billing_run
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, customer, payment

pytestmark = pytest.mark.django_db
D = Decimal
IN_FEBRUARY = dt.datetime(2026, 2, 10, 9, 0, tzinfo=dt.UTC)
USAGE_OF_60 = D("55.045872")  # + 9 % tax = a monthly invoice of exactly 60


def test_the_billing_run_command_pays_with_the_payments_unallocated_cash():
    cust = customer("individual")
    pay = payment(cust, "100", received_date=dt.date(2026, 2, 1))
    ledger_post(cust, "call", -USAGE_OF_60, at=IN_FEBRUARY)

    call_command("billing_run", "--period", "2026-02", "--no-email", "--customer", cust.code)

    monthly = Invoice.objects.get(customer=cust, type=InvoiceType.MONTHLY)
    assert (monthly.total, monthly.amount_paid, monthly.status) == (D("60"), D("60"), InvoiceStatus.PAID)
    assert list(Allocation.objects.filter(invoice=monthly).values_list("source", "payment_id", "amount")) == [
        (AllocationSource.PAYMENT, pay.pk, D("60"))]
    assert not CreditApplication.objects.filter(invoice=monthly).exists()


def test_a_run_must_say_where_payment_cash_comes_from():
    """No default: a caller that forgets finance's cash source fails loudly instead of applying payments'
    cash as credit naming no payment."""
    cust = customer("individual")
    ledger_post(cust, "call", -USAGE_OF_60, at=IN_FEBRUARY)
    at = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    with pytest.raises(TypeError, match="cash_source"):
        monthly_billing_run(period="2026-02", actor=SYSTEM, at=at)
    with pytest.raises(TypeError, match="cash_source"):
        bill_customer_period(customer_id=cust.pk, period="2026-02", actor=SYSTEM, at=at)
    assert not Invoice.objects.exists()


def test_finance_registers_nothing_at_start_up():
    assert type(apps.get_app_config("finance")).ready is AppConfig.ready
