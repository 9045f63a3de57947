"""finance.ReceivableCustomer (who is in today's aged receivables report) and finance.ReceivableAmount (what open
invoices owe per currency and due date, as deltas): kept by the database's triggers in the same transaction as
each invoice, payment and customer change, folded by a periodic task; check_finance recomputes both."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from customers.services.accounts import customer_update
from finance.models import ReceivableAmount, ReceivableCustomer
from finance.selectors import aged_receivables, finance_mismatches
from finance.services.allocation import payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.payments import payment_assign, payment_delete, payment_unassign
from finance.tasks import fold_receivable_amounts
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice
from tests.threads import run_threads, start_threads

D = Decimal


def listed() -> dict[int, tuple[int, int, str]]:
    return {r.customer_id: (r.open_invoices, r.cash_payments, r.sort_name) for r in ReceivableCustomer.objects.all()}


@pytest.mark.django_db
def test_a_customer_is_listed_while_an_invoice_is_open_or_a_payment_has_cash_left():
    cust = customer(name="Acme Trading")
    draft = purchase_invoice(cust, "40", sent=False)
    top_up_invoice(cust, "25")  # awaiting payment, but a top-up invoice is not a debt
    assert listed() == {}
    first = purchase_invoice(cust, "30")
    draft_sent = purchase_invoice(cust, "50")
    assert listed() == {cust.pk: (2, 0, "acme trading")}
    assert draft.status == "draft"

    pay = payment(cust, "100")
    assert listed() == {cust.pk: (2, 1, "acme trading")}
    payment_allocate(payment=pay, lines=[(first.pk, "30"), (draft_sent.pk, "20")], actor=SYSTEM)
    assert listed() == {cust.pk: (1, 1, "acme trading")}  # first paid; the other partly paid; 50 of cash left
    credit_note_issue(customer=cust, invoice=draft_sent, amount="30", reason="discount", actor=SYSTEM)
    assert listed() == {cust.pk: (0, 1, "acme trading")}  # settled by the credit note
    payment_allocate(payment=pay, lines=[(purchase_invoice(cust, "50").pk, "50")], actor=SYSTEM)
    assert listed() == {}  # the cash used up on an invoice it pays in full: the row goes
    assert finance_mismatches() == []


@pytest.mark.django_db
def test_assigning_renaming_and_deleting_move_the_row():
    cust, other = customer(name="Beta Ltd"), customer(name="Gamma Pte")
    unassigned = payment(None, "70", currency=cust.currency)
    assert listed() == {}  # whose it is is not known yet
    payment_assign(payment=unassigned, customer=cust, actor=SYSTEM)
    assert listed() == {cust.pk: (0, 1, "beta ltd")}
    unassigned.refresh_from_db()
    payment_unassign(payment=unassigned, actor=SYSTEM, reason="wrong customer")
    unassigned.refresh_from_db()
    payment_assign(payment=unassigned, customer=other, actor=SYSTEM)
    assert listed() == {other.pk: (0, 1, "gamma pte")}
    customer_update(customer_id=other.pk, name="ZETA Holdings", actor=SYSTEM, reason="renamed")
    assert listed() == {other.pk: (0, 1, "zeta holdings")}
    unassigned.refresh_from_db()
    payment_unassign(payment=unassigned, actor=SYSTEM, reason="not theirs")
    unassigned.refresh_from_db()
    payment_delete(payment=unassigned, actor=SYSTEM, reason="duplicate")
    assert listed() == {}
    assert finance_mismatches() == []


@pytest.mark.django_db
def test_the_report_pages_in_name_order_from_the_list():
    names = ["delta", "Alpha", "charlie", "Bravo", "echo"]
    for name in names:
        purchase_invoice(customer(name=name), "10")
    report = aged_receivables(timezone.localdate(), window=(1, 2))
    assert len(report.rows) == 5 and [r.name for r in report.rows[1:3]] == ["Bravo", "charlie"]
    assert [r.name for r in report.rows] == ["Alpha", "Bravo", "charlie", "delta", "echo"]


@pytest.mark.django_db
def test_check_finance_names_a_list_kept_wrong():
    kept, gone = customer(name="Kept Co"), customer(name="Gone Co")
    purchase_invoice(kept, "10")
    purchase_invoice(gone, "10")
    nobody = customer(name="Nobody Co")
    with connection.cursor() as cursor:  # behind the services' back, as a bad manual fix would
        cursor.execute("UPDATE finance_receivablecustomer SET open_invoices = 3 WHERE customer_id = %s", [kept.pk])
        cursor.execute("DELETE FROM finance_receivablecustomer WHERE customer_id = %s", [gone.pk])
        cursor.execute("INSERT INTO finance_receivablecustomer VALUES (%s, 'SGD', 'nobody co', 1, 0)", [nobody.pk])
    where = "in the aged receivables list (finance.ReceivableCustomer)"
    assert finance_mismatches() == [
        f"customer #{kept.pk} {where}: 3 open invoices and 0 payments with cash kept, 1 and 0 in the rows",
        f"customer #{gone.pk} {where}: missing, with 1 open invoices and 0 payments with cash",
        f"customer #{nobody.pk} {where}: listed with 1 open invoices and 0 payments with cash, has none",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_receivables_rebuild()")
    assert finance_mismatches() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_invoices_payments_and_allocations_keep_every_count():
    """8 threads, each on its own connection, issuing, paying and part-paying invoices of 4 shared customers:
    the counts move under the row lock of each upsert, so none is lost, and every row matches the invoices
    and payments it counts."""
    customers = [customer(name=f"Shared {n}") for n in range(4)]

    def work(n: int) -> None:
        rng = random.Random(n)
        for _ in range(6):
            cust = rng.choice(customers)
            invoice = purchase_invoice(cust, "10")
            pay = payment(cust, rng.choice(["4", "10", "15"]))
            payment_allocate(payment=pay, lines=[(invoice.pk, str(min(pay.amount, D("10"))))], actor=SYSTEM)

    errors = run_threads(8, work)
    assert errors == []
    assert finance_mismatches() == []
    counts = listed()
    # each "4" payment leaves its invoice open (6 owed) and each "15" one leaves 5 of cash: both are listed
    assert sum(invoices for invoices, _, _ in counts.values()) > 0
    assert sum(cash for _, cash, _ in counts.values()) > 0


def owed_by_due_date() -> dict:
    totals: dict = {}
    for row in ReceivableAmount.objects.all():
        key = (row.currency, row.due_date)
        owed, n = totals.get(key, (D(0), 0))
        totals[key] = (owed + row.owed, n + row.invoices)
    return {k: v for k, v in totals.items() if v != (D(0), 0)}


@pytest.mark.django_db
def test_what_open_invoices_owe_per_due_date_follows_every_change_and_folds():
    today = timezone.localdate()
    due = today + timezone.timedelta(days=10)
    cust = customer(name="Delta Co")
    first = purchase_invoice(cust, "30", due_date=due)
    second = purchase_invoice(cust, "50", due_date=due)
    purchase_invoice(cust, "7", sent=False, due_date=due)  # a draft owes nothing yet
    pay = payment(cust, "45")
    payment_allocate(payment=pay, lines=[(first.pk, "30"), (second.pk, "15")], actor=SYSTEM)
    credit_note_issue(customer=cust, invoice=second, amount="5", reason="discount", actor=SYSTEM)
    assert owed_by_due_date() == {(cust.currency, due): (D("30"), 1)}  # 50 - 15 - 5, one invoice open
    assert ReceivableAmount.objects.count() > 1  # deltas, one per change
    assert fold_receivable_amounts() > 1
    assert [(r.due_date, r.owed, r.invoices) for r in ReceivableAmount.objects.all()] == [(due, D("30"), 1)]
    credit_note_issue(customer=cust, invoice=second, amount="30", reason="settled", actor=SYSTEM)
    fold_receivable_amounts()
    assert not ReceivableAmount.objects.exists()  # nothing owed on that day: the folded row goes too
    assert finance_mismatches() == []


@pytest.mark.django_db
def test_check_finance_names_an_amount_kept_wrong():
    due = timezone.localdate()
    cust = customer(name="Epsilon Co")
    purchase_invoice(cust, "20", due_date=due)
    ReceivableAmount.objects.create(currency=cust.currency, due_date=due, owed=D("5"), invoices=0)  # a bad fix
    assert finance_mismatches() == [f"open invoices in {cust.currency} due {due.isoformat()} "
                                    "(finance.ReceivableAmount): 1 owing 25.000000 kept, 1 owing 20.000000 in the rows"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery
def test_the_fold_runs_on_the_worker_while_invoices_change(celery_worker):
    """The beat task on a real worker, folding while 4 threads issue and part-pay invoices: deltas inserted
    during a fold stay for the next one, so the sums per due date never change by folding."""
    customers = [customer(name=f"Fold {n}") for n in range(4)]
    due = timezone.localdate() + timezone.timedelta(days=5)
    def work(n: int) -> None:
        for _ in range(6):
            invoice = purchase_invoice(customers[n], "10", due_date=due)
            payment_allocate(payment=payment(customers[n], "4"), lines=[(invoice.pk, "4")], actor=SYSTEM)

    threads, errors = start_threads(4, work)
    folded = []
    while any(t.is_alive() for t in threads):  # fold on the worker for as long as the threads write
        folded.append(fold_receivable_amounts.delay().get(timeout=60))
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(folded) > 1
    assert finance_mismatches() == []
    folded.append(fold_receivable_amounts.delay().get(timeout=60))
    assert sum(folded) > 0
    (row,) = ReceivableAmount.objects.all()
    assert row.invoices == 24
    assert row.owed == 6 * row.invoices and finance_mismatches() == []
