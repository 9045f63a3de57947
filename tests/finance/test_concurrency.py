"""Allocation, provisioning and assignment under real concurrency: threads, each on its own PostgreSQL
connection, racing on the same rows. The row locks (customer -> invoices -> payment) and the database's
CHECK / UNIQUE constraints must keep every total exact."""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Sum

from customers.models import InvoiceSetup, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from finance.checks import finance_mismatches
from finance.models import Allocation, Payment, TopUp
from finance.rules import AllocationError
from finance.services.allocation import payment_allocate
from finance.services.payments import PaymentError, payment_assign, payment_unassign
from invoices.models import InvoiceType
from tests.finance.factories import (
    SYSTEM,
    customer,
    monthly_invoice,
    payment,
    purchase_invoice,
    top_up_invoice,
)
from tests.threads import run_threads

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16

@pytest.mark.parametrize("setup", [InvoiceSetup.CONSOLIDATED, InvoiceSetup.INDIVIDUAL])
def test_200_concurrent_allocations_of_one_payment_across_5_invoices(setup):
    cust = customer(setup)
    purchases = [monthly_invoice(cust, total) for total in ("120.000001", "95.5", "80")]
    tops = [top_up_invoice(cust, amount) for amount in ("60", "45")]
    pay = payment(cust, "300")
    invoices = purchases + tops
    attempts = 200
    per_thread = [attempts // THREADS + (1 if n < attempts % THREADS else 0) for n in range(THREADS)]
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def work(n):
        rng = random.Random(n)
        for _ in range(per_thread[n]):
            picked = rng.sample(invoices, rng.choice([1, 1, 2, 3]))
            lines = []
            for inv in picked:
                if inv.type == InvoiceType.TOP_UP:
                    lines.append((inv.pk, inv.total))
                else:
                    lines.append((inv.pk, Decimal(rng.choice(["0.5", "3.25", "7", "11.000001", "19.99"]))))
            try:
                payment_allocate(payment=Payment(pk=pay.pk), lines=lines, actor=SYSTEM)
                result = "ok"
            except AllocationError:
                result = "refused"
            with lock:
                outcomes[result] += 1

    errors = run_threads(THREADS, work)
    assert not errors, errors
    assert sum(outcomes.values()) == attempts
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0

    pay.refresh_from_db()
    active = Allocation.objects.filter(payment=pay, reversed_at__isnull=True)
    allocated = active.aggregate(s=Sum("amount"))["s"]
    assert pay.amount_allocated == allocated
    assert pay.amount_allocated + pay.amount_topped_up <= pay.amount  # over-allocation 0
    for inv in invoices:
        inv.refresh_from_db()
        applied = active.filter(invoice=inv).aggregate(s=Sum("amount"))["s"] or Decimal(0)
        assert inv.amount_paid == applied
        assert inv.amount_paid <= inv.total  # no invoice overpaid
    for inv in tops:
        provisionings = TopUp.objects.filter(invoice=inv)
        assert provisionings.count() <= 1  # each provisioning happens once
        assert (provisionings.count() == 1) == (inv.provisioned_at is not None)
        entries = Transaction.objects.filter(source_type="finance.topup", kind=TransactionKind.TOP_UP,
                                             source_id__in=provisionings.values("pk"))
        assert entries.count() == (2 * provisionings.count() if setup != InvoiceSetup.INDIVIDUAL else 0)
    assert ledger_mismatches() == []
    assert finance_mismatches() == []


def test_assign_and_unassign_racing_never_pass_5_changes():
    first, second = customer(), customer()
    pay = payment(None, "75")
    targets = [first, second]
    successes: Counter = Counter()
    lock = threading.Lock()

    def work(n):
        rng = random.Random(1000 + n)
        for _ in range(6):
            try:
                if rng.random() < 0.5:
                    payment_assign(payment=Payment(pk=pay.pk), customer=rng.choice(targets), actor=SYSTEM)
                    done = "assign"
                else:
                    payment_unassign(payment=Payment(pk=pay.pk), actor=SYSTEM)
                    done = "unassign"
            except PaymentError:
                continue
            with lock:
                successes[done] += 1

    errors = run_threads(8, work)
    assert not errors, errors
    pay.refresh_from_db()
    assert pay.assignment_changes == successes["assign"] + successes["unassign"] <= 5
    # Each customer's ledger holds +75 per assignment and -75 per un-assignment: net 75 for the owner only.
    for cust in targets:
        cust.refresh_from_db()
        assert cust.amount_due == (Decimal("75") if pay.customer_id == cust.pk else Decimal("0"))
    assert ledger_mismatches() == []


def test_invoices_issued_and_paid_concurrently_for_shared_customers_never_deadlock():
    """8 threads, each on its own connection, creating, sending and part-paying invoices of 4 shared customers
    (moved here from the aged receivables tables' tests, which found it): a draft invoice locks its customer
    first (invoices.services.lifecycle._customer), else its foreign key check at COMMIT waits on a service
    holding the customer while holding the audit chain's head that service waits for."""
    customers = [customer(name=f"Shared {n}") for n in range(4)]

    def work(n: int) -> None:
        rng = random.Random(n)
        for _ in range(6):
            cust = rng.choice(customers)
            invoice = purchase_invoice(cust, "10")
            pay = payment(cust, rng.choice(["4", "10", "15"]))
            payment_allocate(payment=pay, lines=[(invoice.pk, str(min(pay.amount, Decimal("10"))))], actor=SYSTEM)

    errors = run_threads(8, work)
    assert errors == []
    assert finance_mismatches() == []
