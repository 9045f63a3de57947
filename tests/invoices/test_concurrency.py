"""Under real concurrency (threads, each with its own PostgreSQL connection): gapless numbers, one monthly
invoice per customer and period, and a void racing an allocation."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from finance.services.billing import PAYMENT_CASH
from invoices import settlement
from invoices.locks import lock_invoice
from invoices.models import Invoice, InvoiceStatus, NumberSeries
from invoices.services import InvoiceError, bill_customer_period, invoice_create_top_up, invoice_void
from tests import threads
from tests.customers.factories import CustomerFactory
from tests.invoices.factories import SYSTEM, top_up_invoice, usage

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
PER_THREAD = 100


class Rollback(Exception):
    pass


def run_threads(target, n):
    assert threads.run_threads(n, target) == []


def test_numbers_are_gapless_and_unique_under_concurrency_with_rollbacks():
    customers = [CustomerFactory().pk for _ in range(4)]
    committed = [0] * THREADS

    def work(i):
        rng = random.Random(1000 + i)
        for _ in range(PER_THREAD):
            try:
                with transaction.atomic():
                    invoice_create_top_up(customer_id=rng.choice(customers), amount="25", actor=SYSTEM,
                                          issue_date=dt.date(2026, 5, 1))
                    if rng.random() < 0.10:
                        raise Rollback  # the invoice, its number and its audit event go back together
                committed[i] += 1
            except Rollback:
                pass

    run_threads(work, THREADS)

    total = sum(committed)
    assert THREADS * PER_THREAD * 0.8 < total < THREADS * PER_THREAD  # some rolled back, most did not
    numbers = sorted(int(n.rsplit("-", 1)[1]) for n in Invoice.objects.values_list("number", flat=True))
    assert numbers == list(range(1, total + 1))  # no gap, no duplicate
    assert all(n.startswith("INV-2026-") for n in Invoice.objects.values_list("number", flat=True))
    assert NumberSeries.objects.get(key="INV-2026").last_value == total


def test_two_runs_at_once_bill_a_customer_once():
    customer = CustomerFactory()
    usage(customer, "9", at=dt.datetime(2026, 2, 10, tzinfo=dt.UTC))
    at = dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC)
    results = []

    run_threads(lambda i: results.append(bill_customer_period(cash_source=PAYMENT_CASH,
                                                              customer_id=customer.pk, period="2026-02",
                                                               actor=SYSTEM, at=at)), 4)

    assert len([r for r in results if r is not None]) == 1
    assert Invoice.objects.filter(customer=customer, type="monthly").count() == 1
    customer.refresh_from_db()
    assert customer.amount_unbilled == 0 and customer.amount_due == Decimal("-9.81")


def test_a_void_racing_an_allocation_never_voids_a_paid_top_up():
    for _ in range(5):
        invoice = top_up_invoice(CustomerFactory(), "100", sent=True)
        outcome = {}

        def act(i, invoice=invoice, outcome=outcome):
            if i == 0:
                with transaction.atomic():
                    locked = lock_invoice(invoice.pk)
                    try:
                        settlement.apply(locked, Decimal("100"), at=timezone.now())
                        outcome["paid"] = True
                    except settlement.SettlementError:
                        outcome["paid"] = False
            else:
                try:
                    invoice_void(invoice_id=invoice.pk, reason="race", actor=SYSTEM)
                    outcome["void"] = True
                except InvoiceError:
                    outcome["void"] = False

        run_threads(act, 2)
        invoice.refresh_from_db()
        assert outcome["paid"] != outcome["void"]  # exactly one of them happened
        assert invoice.status == (InvoiceStatus.PAID if outcome["paid"] else InvoiceStatus.VOID)
