"""Recording, editing, deleting, assigning and un-assigning payments: the ledger entries each posts, the
5-change limit, and a clear refusal (nothing changed) for every bad input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from customers.models import Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from finance.checks import finance_mismatches
from finance.models import Payment, PaymentStatus
from finance.services.allocation import payment_allocate
from finance.services.payments import (
    PaymentError,
    payment_assign,
    payment_delete,
    payment_record,
    payment_unassign,
    payment_update,
)
from finance.services.top_ups import payment_top_up
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db


def _events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _unchanged(cust, pay=None):
    """Snapshot of everything a refused call must leave as it was."""
    cust.refresh_from_db()
    state = (cust.amount_due, cust.amount_unbilled, Transaction.objects.count(), AuditEvent.objects.count())
    if pay is not None:
        pay.refresh_from_db()
        state += (pay.customer_id, pay.amount, pay.amount_allocated, pay.assignment_changes, pay.deleted_at)
    return state


class TestPaymentRecord:
    def test_unassigned_payment_posts_nothing(self):
        before = Transaction.objects.count()
        pay = payment(None, "125.50")
        assert pay.customer is None and pay.status == PaymentStatus.UNASSIGNED
        assert pay.currency == "SGD" and pay.assignment_changes == 0
        assert Transaction.objects.count() == before
        assert _events("finance.payment.record") == 1

    def test_with_a_customer_assigns_at_once_and_posts_payment_on_due(self):
        cust = customer()
        pay = payment(cust, "125.50")
        cust.refresh_from_db()
        assert pay.status == PaymentStatus.UNALLOCATED and pay.assignment_changes == 1
        assert cust.amount_due == Decimal("125.50") and cust.amount_unbilled == 0
        entry = Transaction.objects.get(source_type="finance.payment", source_id=pay.pk)
        assert entry.kind == TransactionKind.PAYMENT and entry.bucket == "due"
        assert _events("finance.payment.record") == 1

    @pytest.mark.parametrize("amount, message", [
        ("0", "more than zero"), ("-5", "more than zero"), ("1.0000001", "at most 6 decimal"),
        ("abc", "must be a number"), ("", "required"), (1.5, "not a floating-point"),
    ])
    def test_refuses_bad_amounts(self, amount, message):
        cust = customer()
        state = _unchanged(cust)
        with pytest.raises(PaymentError, match=message):
            payment_record(customer=cust, amount=amount, received_date=timezone.localdate(), method="cash",
                           actor=SYSTEM)
        assert _unchanged(cust) == state and Payment.objects.count() == 0

    def test_refuses_a_currency_other_than_the_customers(self):
        cust = customer(currency="SGD")
        with pytest.raises(PaymentError, match="pays in SGD"):
            payment(cust, "10", currency="USD")
        assert Payment.objects.count() == 0

    def test_refuses_a_future_received_date_and_an_unknown_method(self):
        with pytest.raises(PaymentError, match="future"):
            payment(None, "10", received_date=timezone.localdate() + dt.timedelta(days=1))
        with pytest.raises(PaymentError, match="Unknown payment method"):
            payment(None, "10", method="bitcoin")
        assert Payment.objects.count() == 0

    def test_six_decimals_are_kept_exactly(self):
        pay = payment(None, "65.979991")
        pay.refresh_from_db()
        assert pay.amount == Decimal("65.979991")


class TestPaymentAssign:
    def test_assign_posts_payment_and_unassign_posts_the_opposite(self):
        cust = customer()
        pay = payment(None, "80")
        payment_assign(payment=pay, customer=cust, actor=SYSTEM)
        cust.refresh_from_db()
        assert cust.amount_due == Decimal("80")
        payment_unassign(payment=pay, actor=SYSTEM)
        cust.refresh_from_db()
        pay.refresh_from_db()
        assert cust.amount_due == 0 and pay.customer is None and pay.status == PaymentStatus.UNASSIGNED
        kinds = list(Transaction.objects.filter(source_id=pay.pk, source_type="finance.payment")
                     .order_by("id").values_list("kind", "amount"))
        assert kinds == [(TransactionKind.PAYMENT, Decimal("80")), (TransactionKind.PAYMENT_UNASSIGNED, Decimal("-80"))]
        assert _events("finance.payment.assign") == 1 and _events("finance.payment.unassign") == 1

    def test_five_changes_then_the_sixth_is_refused_with_a_clear_message(self):
        a, b = customer(), customer()
        pay = payment(None, "10")
        payment_assign(payment=pay, customer=a, actor=SYSTEM)
        payment_unassign(payment=pay, actor=SYSTEM)
        payment_assign(payment=pay, customer=b, actor=SYSTEM)
        payment_unassign(payment=pay, actor=SYSTEM)
        payment_assign(payment=pay, customer=a, actor=SYSTEM)
        pay.refresh_from_db()
        assert pay.assignment_changes == 5 and pay.assignment_changes_left == 0
        state = _unchanged(a, pay)
        with pytest.raises(PaymentError, match="used all 5 assignment changes"):
            payment_unassign(payment=pay, actor=SYSTEM)
        assert _unchanged(a, pay) == state
        assert ledger_mismatches() == []

    def test_the_database_refuses_a_sixth_change_whatever_the_code(self):
        pay = payment(None, "10")
        with pytest.raises(IntegrityError), transaction.atomic():
            Payment.objects.filter(pk=pay.pk).update(assignment_changes=6)

    def test_refuses_assigning_an_assigned_payment_to_another_customer(self):
        a, b = customer(), customer()
        pay = payment(a, "10")
        state = _unchanged(b, pay)
        with pytest.raises(PaymentError, match="assigned to another customer; un-assign it first"):
            payment_assign(payment=pay, customer=b, actor=SYSTEM)
        assert _unchanged(b, pay) == state

    def test_refuses_a_customer_of_another_currency(self):
        usd = customer(currency="USD")
        pay = payment(None, "10")
        with pytest.raises(PaymentError, match="is in SGD but .* pays in USD"):
            payment_assign(payment=pay, customer=usd, actor=SYSTEM)
        pay.refresh_from_db()
        assert pay.customer is None and pay.assignment_changes == 0

    def test_unassign_is_refused_while_allocations_or_top_ups_exist(self):
        cust = customer()
        pay = payment(cust, "100")
        inv = purchase_invoice(cust, "40")
        payment_allocate(payment=pay, lines=[(inv.pk, "40")], actor=SYSTEM)
        state = _unchanged(cust, pay)
        with pytest.raises(PaymentError, match="undo the allocations"):
            payment_unassign(payment=pay, actor=SYSTEM)
        assert _unchanged(cust, pay) == state
        other = payment(cust, "30")
        payment_top_up(payment=other, amount="5", actor=SYSTEM)
        with pytest.raises(PaymentError, match="topped up"):
            payment_unassign(payment=other, actor=SYSTEM)

    def test_unassigning_an_unassigned_payment_is_refused(self):
        pay = payment(None, "10")
        with pytest.raises(PaymentError, match="not assigned"):
            payment_unassign(payment=pay, actor=SYSTEM)


class TestPaymentUpdate:
    def test_editing_an_assigned_amount_posts_the_difference(self):
        cust = customer()
        pay = payment(cust, "100")
        payment_update(payment=pay, amount="120.5", received_date=pay.received_date, method=pay.method,
                       reference="TT-1", actor=SYSTEM)
        payment_update(payment=pay, amount="90", received_date=pay.received_date, method=pay.method,
                       reference="TT-1", actor=SYSTEM)
        cust.refresh_from_db()
        assert cust.amount_due == Decimal("90")
        amounts = list(Transaction.objects.filter(source_type="finance.payment", source_id=pay.pk)
                       .order_by("id").values_list("amount", flat=True))
        assert amounts == [Decimal("100"), Decimal("20.5"), Decimal("-30.5")]
        event = AuditEvent.objects.filter(action="finance.payment.update").order_by("id").first()
        assert event.before["amount"] == "100.000000" and event.after["amount"] == "120.500000"
        assert ledger_mismatches() == []

    def test_never_below_what_is_allocated(self):
        cust = customer()
        pay = payment(cust, "100")
        inv = purchase_invoice(cust, "60")
        payment_allocate(payment=pay, lines=[(inv.pk, "60")], actor=SYSTEM)
        state = _unchanged(cust, pay)
        with pytest.raises(PaymentError, match="cannot go below the 60"):
            payment_update(payment=pay, amount="59.99", received_date=pay.received_date, method=pay.method,
                           actor=SYSTEM)
        assert _unchanged(cust, pay) == state
        payment_update(payment=pay, amount="60", received_date=pay.received_date, method=pay.method, actor=SYSTEM)
        pay.refresh_from_db()
        assert pay.status == PaymentStatus.ALLOCATED

    def test_the_database_refuses_over_allocation_whatever_the_code(self):
        pay = payment(customer(), "100")
        with pytest.raises(IntegrityError), transaction.atomic():
            Payment.objects.filter(pk=pay.pk).update(amount_allocated=Decimal("100.000001"))

    def test_currency_changes_only_while_unassigned(self):
        pay = payment(None, "10")
        payment_update(payment=pay, amount="10", currency="usd", received_date=pay.received_date,
                       method=pay.method, actor=SYSTEM)
        pay.refresh_from_db()
        assert pay.currency == "USD"
        assigned = payment(customer(), "10")
        with pytest.raises(PaymentError, match="un-assign it to change its currency"):
            payment_update(payment=assigned, amount="10", currency="USD", received_date=assigned.received_date,
                           method=assigned.method, actor=SYSTEM)

    def test_nothing_changed_is_said(self):
        pay = payment(None, "10", reference="R")
        with pytest.raises(PaymentError, match="Nothing was changed"):
            payment_update(payment=pay, amount="10.000000", received_date=pay.received_date, method=pay.method,
                           reference="R", actor=SYSTEM)


class TestPaymentDelete:
    def test_delete_keeps_the_row_and_reverses_an_assignment(self):
        cust = customer()
        pay = payment(cust, "55")
        payment_delete(payment=pay, actor=SYSTEM, reason="duplicate")
        pay.refresh_from_db()
        cust.refresh_from_db()
        assert pay.deleted_at is not None and pay.status == PaymentStatus.DELETED
        assert cust.amount_due == 0 and pay.amount_unallocated == 0
        assert _events("finance.payment.delete") == 1
        with pytest.raises(PaymentError, match="deleted"):
            payment_update(payment=pay, amount="56", received_date=pay.received_date, method=pay.method,
                           actor=SYSTEM)
        with pytest.raises(PaymentError, match="deleted"):
            payment_assign(payment=pay, customer=cust, actor=SYSTEM)
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_delete_is_refused_while_anything_is_allocated_or_topped_up(self):
        cust = customer()
        pay = payment(cust, "100")
        payment_top_up(payment=pay, amount="1", actor=SYSTEM)
        state = _unchanged(cust, pay)
        with pytest.raises(PaymentError, match="undo those first"):
            payment_delete(payment=pay, actor=SYSTEM)
        assert _unchanged(cust, pay) == state


class TestStatus:
    def test_status_follows_the_amounts(self):
        cust = customer()
        pay = payment(None, "100")
        assert pay.status == PaymentStatus.UNASSIGNED
        payment_assign(payment=pay, customer=cust, actor=SYSTEM)
        pay.refresh_from_db()
        assert pay.status == PaymentStatus.UNALLOCATED
        inv = purchase_invoice(cust, "30")
        payment_allocate(payment=pay, lines=[(inv.pk, "30")], actor=SYSTEM)
        pay.refresh_from_db()
        assert pay.status == PaymentStatus.PARTIALLY_ALLOCATED
        payment_top_up(payment=pay, amount="70", actor=SYSTEM)
        pay.refresh_from_db()
        assert pay.status == PaymentStatus.ALLOCATED and pay.amount_unallocated == 0
