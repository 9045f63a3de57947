"""Row locks are FOR NO KEY UPDATE (customers/locks.py): an insert elsewhere that references a locked row
(its foreign-key check takes FOR KEY SHARE) goes ahead instead of waiting for the lock holder to commit.
Two PostgreSQL connections: the test holds the lock, a thread inserts with a 1 s lock_timeout."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from customers.locks import lock_customer
from customers.models import Customer, Notification
from customers.services import reservation_commit, reservation_reserve
from invoices.locks import lock_invoice
from invoices.models import InvoiceLine
from tests.customers.factories import NOW, SYSTEM, postpaid
from tests.invoices.factories import purchase_invoice
from tests.threads import run_threads

pytestmark = pytest.mark.django_db(transaction=True)


def _insert_while_locked(lock, insert) -> list[BaseException]:
    """Hold `lock()` in this connection's transaction while a thread runs `insert()` with a 1 s lock
    timeout; returns what the thread raised."""
    with transaction.atomic():
        lock()

        def work(_n: int) -> None:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '1s'")
                insert()

        return run_threads(1, work, timeout=30)


def test_a_notification_for_a_locked_customer_is_inserted_without_waiting():
    customer = postpaid()

    def insert():
        Notification.objects.create(customer_id=customer.pk, kind="invoice", recipient="a@example.com",
                                    subject="Invoice", body="", sent_at=NOW)

    assert _insert_while_locked(lambda: lock_customer(customer.pk), insert) == []
    assert Notification.objects.filter(customer=customer).count() == 1


def test_changing_a_customer_code_still_takes_the_key_lock():
    """The one lock that changes a key (customer_update with a code) keeps FOR UPDATE: a referencing
    insert waits for it (here: times out)."""
    customer = postpaid()

    def insert():
        Notification.objects.create(customer_id=customer.pk, kind="invoice", recipient="a@example.com",
                                    subject="Invoice", body="", sent_at=NOW)

    (error,) = _insert_while_locked(lambda: lock_customer(customer.pk, key_change=True), insert)
    assert "lock timeout" in str(error)
    assert not Notification.objects.filter(customer=customer).exists()
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_a_line_for_a_locked_invoice_is_inserted_without_waiting():
    invoice = purchase_invoice(postpaid())

    def insert():
        InvoiceLine.objects.create(invoice_id=invoice.pk, position=9, description="Extra", unit_price=1,
                                   amount=1, tax_amount=0)

    assert _insert_while_locked(lambda: lock_invoice(invoice.pk), insert) == []
    assert invoice.lines.filter(position=9).exists()


def _notify(customer_id: int) -> None:
    Notification.objects.create(customer_id=customer_id, kind="invoice", recipient="a@example.com", subject="Invoice",
                                body="", sent_at=NOW)


def test_the_reservation_functions_lock_the_customer_without_its_key():
    """customers/sql/reservations.sql locks the customer FOR NO KEY UPDATE: while a reserve or a commit is in
    flight, an insert that references the customer goes ahead (under FOR UPDATE it timed out)."""
    customer = postpaid()

    def reserve():
        return reservation_reserve(customer_id=customer.pk, amount=Decimal("5"), actor=SYSTEM, at=NOW)

    def commit():
        reservation_commit(reservation_id=held.pk, amount=Decimal("1"), actor=SYSTEM, at=NOW)

    assert _insert_while_locked(reserve, lambda: _notify(customer.pk)) == []
    held = reserve()
    assert _insert_while_locked(commit, lambda: _notify(customer.pk)) == []
    assert Notification.objects.filter(customer=customer).count() == 2
