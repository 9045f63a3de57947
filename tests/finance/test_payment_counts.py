"""finance.PaymentCount: how many payments per status, method and received date, kept as deltas by triggers in
the same transaction as each payment change, folded by a periodic task; the payment list counts from it for
every filter but a search or a customer, and check_finance recomputes it."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finance.models import Payment, PaymentCount, PaymentStatus
from finance.selectors import finance_mismatches, payment_count, payments
from finance.services.allocation import allocation_reverse, payment_allocate
from finance.services.payments import payment_assign, payment_delete, payment_unassign, payment_update
from finance.services.top_ups import payment_top_up
from finance.tasks import fold_payment_counts
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice
from tests.threads import run_threads, start_threads

TODAY = timezone.localdate()
DAY = dt.timedelta(days=1)
METHODS = ["", "bank_transfer", "cheque", "cash"]
STATUSES = ["", *PaymentStatus.values]
DATES = [(None, None), (TODAY - 3 * DAY, None), (None, TODAY - 3 * DAY), (TODAY - 5 * DAY, TODAY - DAY)]


def kept() -> dict[tuple[str, str, dt.date], int]:
    counts: dict[tuple[str, str, dt.date], int] = {}
    for row in PaymentCount.objects.all():
        key = (row.status, row.method, row.received_date)
        counts[key] = counts.get(key, 0) + row.payments
    return {key: n for key, n in counts.items() if n}


def counted() -> dict[tuple[str, str, dt.date], int]:
    counts: dict[tuple[str, str, dt.date], int] = {}
    for status, method, day in Payment.objects.values_list("status", "method", "received_date"):
        counts[(status, method, day)] = counts.get((status, method, day), 0) + 1
    return counts


def assert_every_filter_counts_as_the_rows():
    assert kept() == counted()
    for status, method, (start, end) in itertools.product(STATUSES, METHODS, DATES):
        filters = {"status": status, "method": method, "received_from": start, "received_to": end}
        assert payment_count(**filters) == payments(**filters).count(), filters


@pytest.mark.django_db
def test_the_counts_follow_every_change_of_a_payment():
    acme, globex = customer(name="Acme"), customer(name="Globex")
    first = payment(acme, "100", received_date=TODAY - 4 * DAY)
    second = payment(None, "50", currency=acme.currency, method="cheque", received_date=TODAY - 2 * DAY)
    third = payment(globex, "30", method="cash", received_date=TODAY)
    assert_every_filter_counts_as_the_rows()
    invoice = purchase_invoice(acme, "80")
    payment_allocate(payment=first, lines=[(invoice.pk, "60")], actor=SYSTEM)  # partially allocated
    assert_every_filter_counts_as_the_rows()
    (rest,) = payment_allocate(payment=first, lines=[(invoice.pk, "20")], actor=SYSTEM)  # 20 left: still partial
    payment_top_up(payment=first, amount="20", actor=SYSTEM)  # nothing left: allocated
    assert Payment.objects.get(pk=first.pk).status == PaymentStatus.ALLOCATED
    assert_every_filter_counts_as_the_rows()
    allocation_reverse(allocation=rest, actor=SYSTEM, reason="wrong invoice")  # back to partially allocated
    payment_assign(payment=second, customer=acme, actor=SYSTEM)  # unassigned -> unallocated
    assert_every_filter_counts_as_the_rows()
    payment_update(payment=third, amount="30", received_date=TODAY - 5 * DAY, method="bank_transfer", actor=SYSTEM)
    payment_unassign(payment=second, actor=SYSTEM, reason="not theirs")
    payment_delete(payment=second, actor=SYSTEM, reason="duplicate")  # deleted: out of the unfiltered list
    assert_every_filter_counts_as_the_rows()
    assert payment_count() == 2 and payment_count(status=PaymentStatus.DELETED) == 1
    assert payment_count(q="acme") is None and payment_count(customer_id=acme.pk) is None  # rows counted
    assert finance_mismatches() == []


@pytest.mark.django_db
def test_the_deltas_fold_into_one_row_per_status_method_and_day():
    cust = customer(name="Delta Co")
    for n in range(5):
        payment(cust, "10", received_date=TODAY - (n % 2) * DAY)
    pay = payment(cust, "10")
    payment_allocate(payment=pay, lines=[(purchase_invoice(cust, "10").pk, "10")], actor=SYSTEM)
    before = kept()
    deltas = PaymentCount.objects.count()
    assert deltas >= 8  # at least: 6 payments in, one moved from unallocated to allocated
    assert fold_payment_counts() == deltas
    assert kept() == before and PaymentCount.objects.count() == 3  # unallocated today / yesterday, allocated
    assert {(r.status, r.received_date, r.payments) for r in PaymentCount.objects.all()} == {
        ("unallocated", TODAY, 3), ("unallocated", TODAY - DAY, 2), ("allocated", TODAY, 1)}
    assert fold_payment_counts() == 3 and kept() == before  # again: the same rows


@pytest.mark.django_db
def test_check_finance_names_a_count_kept_wrong_and_the_rebuild_mends_it():
    pay = payment(customer(name="Epsilon"), "20")
    PaymentCount.objects.create(status="unallocated", method=pay.method, received_date=pay.received_date,
                                payments=2)  # a bad fix
    assert finance_mismatches() == [f"unallocated bank_transfer payments received {pay.received_date.isoformat()} "
                                    "(finance.PaymentCount): 3 kept, 1 in the rows"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_payment_counts_rebuild()")
    assert finance_mismatches() == [] and kept() == counted()


@pytest.mark.django_db
def test_the_payment_list_counts_from_them_but_a_search_counts_the_rows(finance_client):
    acme = customer(name="Acme")
    for n in range(30):
        payment(acme if n % 3 else None, "5", currency=acme.currency, reference=f"TT-{n}",
                method="cheque" if n % 2 else "bank_transfer", received_date=TODAY - (n % 4) * DAY)
    url = reverse("finance:payment-list")

    def shown(query: dict) -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = finance_client.get(url, query)
        counts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT COUNT(*) AS "__count" '
                                                                                     'FROM "finance_payment"')]
        return response.context["page"].paginator.count, counts

    for query in ({}, {"method": "cheque"}, {"status": "unassigned", "received_from": TODAY - 2 * DAY}):
        count, counting = shown(query)
        assert counting == [] and count == payments(**{k: v for k, v in query.items()}).count()
    assert shown({"method": "cheque", "page": "2"})[0] == 15
    count, counting = shown({"q": "TT-1"})
    assert len(counting) == 1 and count == 11  # TT-1, TT-10..19


@pytest.mark.django_db(transaction=True)
def test_payments_recorded_and_allocated_at_once_from_8_threads_add_up():
    """No shared row to queue on: 8 threads each record payments and allocate them, concurrently."""
    customers = [customer(name=f"Thread {n}") for n in range(8)]
    invoices = [purchase_invoice(c, "1000") for c in customers]

    def work(n: int) -> None:
        for i in range(6):
            pay = payment(customers[n], "3", method="cheque" if i % 2 else "cash", received_date=TODAY - (i % 3) * DAY)
            if i % 3:
                payment_allocate(payment=pay, lines=[(invoices[n].pk, "3" if i % 2 else "1")], actor=SYSTEM)

    assert run_threads(8, work) == []
    assert Payment.objects.count() == 48
    assert_every_filter_counts_as_the_rows()
    assert finance_mismatches() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery
def test_the_fold_runs_on_the_worker_while_payments_change(celery_worker):
    """The beat task on a real worker, folding while 4 threads record and allocate payments: deltas inserted
    during a fold stay for the next one, so the counts never change by folding."""
    customers = [customer(name=f"Fold {n}") for n in range(4)]
    invoices = [purchase_invoice(c, "500") for c in customers]

    def work(n: int) -> None:
        for _ in range(6):
            pay = payment(customers[n], "4")
            payment_allocate(payment=pay, lines=[(invoices[n].pk, "4")], actor=SYSTEM)

    threads, errors = start_threads(4, work)
    folded = []
    while any(t.is_alive() for t in threads):
        folded.append(fold_payment_counts.delay().get(timeout=60))
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(folded) > 1
    folded.append(fold_payment_counts.delay().get(timeout=60))
    assert sum(folded) > 0 and kept() == counted() == {("allocated", "bank_transfer", TODAY): 24}
    assert PaymentCount.objects.count() == 1 and finance_mismatches() == []
