"""check_finance names every cached finance total that differs from its rows: each kind of mismatch made here
on purpose behind the services' back (the money-applied and cash mismatches are in test_credit_consistency)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from customers.models import InvoiceSetup
from finance.checks import finance_mismatches
from finance.models import Payment, TopUp
from finance.services.allocation import payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.top_ups import payment_top_up
from invoices.models import Invoice
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def book():
    """A consistent book: payments allocated and topped up, invoices paid and credited, top-up invoices
    provisioned and not, top-ups posted to the ledger."""
    cust = customer(name="Books Co")
    pay = payment(cust, "100")
    paid = purchase_invoice(cust, "30")
    credited = purchase_invoice(cust, "50")
    payment_allocate(payment=pay, lines=[(paid.pk, "30"), (credited.pk, "10")], actor=SYSTEM)
    credit_note_issue(customer=cust, invoice=credited, amount="15", reason="discount", actor=SYSTEM)
    provisioned = top_up_invoice(cust, "20")
    payment_allocate(payment=pay, lines=[(provisioned.pk, "20")], actor=SYSTEM)
    waiting = top_up_invoice(cust, "25")
    consolidated = customer(InvoiceSetup.CONSOLIDATED, name="Group Co")  # its top-ups post a due / unbilled pair
    topped = payment(consolidated, "40")
    top_up = payment_top_up(payment=topped, amount="40", actor=SYSTEM)
    other = payment_top_up(payment=payment(consolidated, "9"), amount="9", actor=SYSTEM)
    assert top_up.posted_to_ledger and other.posted_to_ledger
    assert finance_mismatches() == []
    return {"cust": cust, "pay": pay, "topped": topped, "paid": paid, "credited": credited,
            "provisioned": provisioned, "waiting": waiting, "top_up": top_up, "other": other}


def _check_finance_lines() -> list[str]:
    out = StringIO()
    with pytest.raises(CommandError, match="finance mismatch"):
        call_command("check_finance", stdout=out)
    return [line.removeprefix("MISMATCH ") for line in out.getvalue().splitlines() if line.startswith("MISMATCH")]


def test_payment_totals_that_differ_from_their_allocations_and_top_ups(book):
    pay, topped = book["pay"], book["topped"]
    Payment.objects.filter(pk=pay.pk).update(amount_allocated=F("amount_allocated") - 5)
    Payment.objects.filter(pk=topped.pk).update(amount_topped_up=D("35"))
    group = topped.customer
    assert _check_finance_lines() == finance_mismatches() == [  # the latest received first, then by id
        f"payment #{topped.pk}: allocated 0.000000 vs rows 0, topped up 35.000000 vs rows 40.000000",
        f"payment #{pay.pk}: allocated 55.000000 vs rows 60.000000, topped up 0.000000 vs rows 0",
        # and the 5 the top-up payment now shows unallocated is money its top-up already used
        f"customer {group.code} (#{group.pk}): its payments show 5.000000 unallocated but only 0.000000 of the money "
        "in is not yet used on an invoice; part of that cash already paid an invoice without an allocation"]


def test_invoice_totals_that_differ_from_their_allocations_credit_applications_and_credit_notes(book):
    Invoice.objects.filter(pk=book["paid"].pk).update(amount_paid=D("29"))
    Invoice.objects.filter(pk=book["credited"].pk).update(amount_credited=D("20"))
    assert _check_finance_lines() == finance_mismatches() == [
        f"invoice {book['credited'].number}: paid 10.000000 vs allocations 10.000000 + credit applications 0; "
        "credited 20.000000 vs credit notes 15.000000",
        f"invoice {book['paid'].number}: paid 29.000000 vs allocations 30.000000 + credit applications 0; "
        "credited 0.000000 vs credit notes 0"]


def test_top_up_invoices_whose_provisioning_flag_disagrees_with_their_top_up(book):
    Invoice.objects.filter(pk=book["provisioned"].pk).update(provisioned_at=None)
    Invoice.objects.filter(pk=book["waiting"].pk).update(provisioned_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert _check_finance_lines() == finance_mismatches() == [
        f"top-up invoice {book['waiting'].number}: provisioned_at 2026-01-02 03:04:05+00:00 but active provisioning "
        "missing",
        f"top-up invoice {book['provisioned'].number}: provisioned_at None but active provisioning exists"]


def test_top_ups_whose_ledger_pair_is_missing_or_different(book):
    TopUp.objects.filter(pk=book["top_up"].pk).update(amount=D("41"))
    TopUp.objects.filter(pk=book["other"].pk).update(removed_at=timezone.now())
    top_up, other = book["top_up"], book["other"]
    assert _check_finance_lines() == finance_mismatches() == [
        f"payment #{other.payment_id}: allocated 0.000000 vs rows 0, topped up 9.000000 vs rows 0",
        f"payment #{top_up.payment_id}: allocated 0.000000 vs rows 0, topped up 40.000000 vs rows 41.000000",
        f"top-up #{other.pk}: ledger due -9.000000 / unbilled 9.000000, expected -0 / 0",
        f"top-up #{top_up.pk}: ledger due -40.000000 / unbilled 40.000000, expected -41.000000 / 41.000000"]
