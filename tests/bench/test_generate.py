"""The scale generator at a tiny scale, so it cannot silently rot: exact counts, a clean ledger and finance
check, gapless numbers that the services continue, and history the real billing run can bill on top of."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.db.models import Count, Sum

from audit.actors import Actor
from bench.generate import GenerationError, run
from customers.models import Bucket, Customer, Transaction
from customers.selectors import ledger_mismatches
from finance.checks import finance_mismatches
from finance.models import Allocation, Payment, PaymentStatus, TopUp
from finance.services.billing import PAYMENT_CASH
from invoices.models import Invoice, InvoiceLineEntry, InvoiceStatus, InvoiceType, NumberSeries
from invoices.numbering import next_number
from invoices.services.billing import monthly_billing_run

SIZE = {"customers": 60, "transactions": 1200, "invoices": 180, "payments": 180}
ARGS = [f"--{name}={value}" for name, value in SIZE.items()]
UNTIL = "2026-03"  # the history covers March 2025 .. February 2026; February is left unbilled


@pytest.fixture
def generated(db):
    run([*ARGS, "--months=12", f"--until={UNTIL}", "--seed=7"], log=lambda message: None)


def test_fills_exactly_the_numbers_asked_for(generated):
    assert Customer.objects.count() == SIZE["customers"]
    assert Transaction.objects.count() == SIZE["transactions"]
    assert Invoice.objects.count() == SIZE["invoices"]
    assert Payment.objects.count() == SIZE["payments"]


def test_leaves_the_ledger_and_finance_checks_clean(generated):
    assert ledger_mismatches() == []
    assert finance_mismatches() == []


def test_history_has_the_states_a_year_of_business_leaves(generated):
    statuses = set(Invoice.objects.values_list("type", "status").distinct())
    assert {("monthly", InvoiceStatus.PAID), ("purchase", InvoiceStatus.PAID), ("top_up", InvoiceStatus.PAID),
            ("top_up", InvoiceStatus.SENT), ("top_up", InvoiceStatus.VOID)} <= statuses
    assert Invoice.objects.filter(type=InvoiceType.MONTHLY, status__in=[InvoiceStatus.SENT,
                                                                        InvoiceStatus.PARTIALLY_PAID]).exists()
    assert {PaymentStatus.ALLOCATED, PaymentStatus.UNASSIGNED} <= set(
        Payment.objects.values_list("status", flat=True).distinct())
    assert TopUp.objects.filter(invoice__isnull=True, posted_to_ledger=True).exists()
    assert TopUp.objects.filter(invoice__isnull=False, posted_to_ledger=False).exists()
    # every monthly invoice's usage lines stand for the entries they billed, and those entries are billed
    billed = Transaction.objects.filter(billed_at__isnull=False)
    assert InvoiceLineEntry.objects.count() > 0
    assert not InvoiceLineEntry.objects.filter(transaction__billed_at__isnull=True).exists()
    assert not billed.exclude(bucket=Bucket.UNBILLED).exists()
    # nothing is dated after the history's end
    end = dt.datetime(2026, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert not Transaction.objects.filter(occurred_at__gte=end).exists()
    assert not Allocation.objects.filter(created_at__gte=end).exists()


def test_numbers_are_gapless_and_the_services_continue_them(generated):
    for series in NumberSeries.objects.filter(key__startswith="INV-"):
        numbers = sorted(Invoice.objects.filter(number__startswith=f"{series.key}-").values_list("number", flat=True))
        assert numbers == [f"{series.key}-{n:06d}" for n in range(1, series.last_value + 1)]
        assert list(Invoice.objects.filter(number__startswith=f"{series.key}-").order_by("id")
                    .values_list("number", flat=True)) == numbers  # ids follow issue order, as the services give
    year = int(NumberSeries.objects.order_by("-key").filter(key__startswith="INV-").first().key[4:])
    last = NumberSeries.objects.get(key=f"INV-{year}").last_value
    with transaction.atomic():
        assert next_number("INV", year) == f"INV-{year}-{last + 1:06d}"


def test_the_real_billing_run_bills_the_month_left_unbilled(generated):
    before = Invoice.objects.filter(type=InvoiceType.MONTHLY).count()
    result = monthly_billing_run(cash_source=PAYMENT_CASH, period="2026-02", actor=Actor.system("test"),
                                 at=dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC), via_celery=True)
    assert result.failed == []
    assert len(result.invoiced) > 0
    assert Invoice.objects.filter(type=InvoiceType.MONTHLY).count() == before + len(result.invoiced)
    assert ledger_mismatches() == []
    assert finance_mismatches() == []
    # the month is billed: the consolidated and individual customers have no unbilled usage left before March
    left = (Transaction.objects.filter(bucket=Bucket.UNBILLED, billed_at__isnull=True, amount__lt=0,
                                       kind__in=["call", "sms", "fax", "number_activation"])
            .exclude(customer__invoice_setup="none").aggregate(n=Count("id"), s=Sum("amount")))
    assert left["n"] == 0


def test_refuses_a_database_that_already_has_customers(generated):
    with pytest.raises(GenerationError, match="already has customers"):
        run(["--customers=5", "--transactions=100", "--invoices=15", "--payments=15"], log=lambda message: None)
    assert Customer.objects.count() == SIZE["customers"]
