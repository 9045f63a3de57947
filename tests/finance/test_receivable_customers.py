"""finance.ReceivableCustomer: who is in today's aged receivables report, kept by the database's triggers in the
same transaction as each invoice, payment and customer change; check_finance recomputes it."""

from __future__ import annotations

import random
import threading
from decimal import Decimal

import pytest
from django.db import connection

from customers.services.accounts import customer_update
from finance.models import ReceivableCustomer
from finance.selectors import aged_receivables, finance_mismatches
from finance.services.allocation import payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.payments import payment_assign, payment_delete, payment_unassign
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice

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
    report = aged_receivables(aged_today(), window=(1, 2))
    assert len(report.rows) == 5 and [r.name for r in report.rows[1:3]] == ["Bravo", "charlie"]
    assert [r.name for r in report.rows] == ["Alpha", "Bravo", "charlie", "delta", "echo"]


def aged_today():
    from django.utils import timezone

    return timezone.localdate()


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
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        rng = random.Random(n)
        try:
            barrier.wait()
            for _ in range(6):
                cust = rng.choice(customers)
                invoice = purchase_invoice(cust, "10")
                pay = payment(cust, rng.choice(["4", "10", "15"]))
                payment_allocate(payment=pay, lines=[(invoice.pk, str(min(pay.amount, D("10"))))], actor=SYSTEM)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert finance_mismatches() == []
    counts = listed()
    # each "4" payment leaves its invoice open (6 owed) and each "15" one leaves 5 of cash: both are listed
    assert sum(invoices for invoices, _, _ in counts.values()) > 0
    assert sum(cash for _, cash, _ in counts.values()) > 0
