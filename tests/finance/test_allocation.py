"""Allocating a payment to invoices (all or nothing), "Assign & allocate", the read-only preview, undoing an
allocation, and paying an invoice with the customer's credit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import InvoiceSetup, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from finance.checks import finance_mismatches
from finance.models import Allocation, AllocationSource, PaymentStatus
from finance.payments.selectors import allocation_preview, default_amount
from finance.rules import AllocationError
from finance.selectors import credit_position
from finance.services.allocation import allocation_reverse, invoice_pay_with_credits, payment_allocate
from finance.services.credit_notes import credit_note_issue
from finance.services.payments import payment_assign, payment_unassign
from finance.services.top_ups import payment_top_up
from invoices.models import InvoiceStatus
from invoices.services.lifecycle import invoice_void
from tests.finance.factories import (
    SYSTEM,
    customer,
    monthly_invoice,
    payment,
    purchase_invoice,
    top_up_invoice,
)

pytestmark = pytest.mark.django_db


def _state(*objs):
    """Everything a refused call must leave unchanged."""
    out = [Transaction.objects.count(), AuditEvent.objects.count(), Allocation.objects.count()]
    for o in objs:
        o.refresh_from_db()
        out.append(tuple(getattr(o, f, None) for f in ("amount_due", "amount_unbilled", "amount_allocated",
                                                        "assignment_changes", "customer_id", "amount_paid",
                                                        "status")))
    return out


class TestPaymentAllocate:
    def test_allocates_to_several_invoices_at_once_without_moving_any_figure(self):
        cust = customer()
        a, b = purchase_invoice(cust, "50"), purchase_invoice(cust, "70")
        pay = payment(cust, "100")
        cust.refresh_from_db()
        figures = (cust.amount_due, cust.amount_unbilled)
        rows = payment_allocate(payment=pay, lines=[(a.pk, "50"), (b.pk, "30.000001")], actor=SYSTEM)
        assert len(rows) == 2
        a.refresh_from_db(), b.refresh_from_db(), pay.refresh_from_db(), cust.refresh_from_db()
        assert a.status == InvoiceStatus.PAID and a.paid_at is not None
        assert b.status == InvoiceStatus.PARTIALLY_PAID and b.amount_outstanding == Decimal("39.999999")
        assert pay.amount_allocated == Decimal("80.000001") and pay.status == PaymentStatus.PARTIALLY_ALLOCATED
        assert (cust.amount_due, cust.amount_unbilled) == figures  # which invoice the money settles, no more
        assert AuditEvent.objects.filter(action="finance.payment.allocate").count() == 1
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_assign_and_allocate_assigns_an_unassigned_payment_to_the_invoices_customer(self):
        cust = customer()
        inv = purchase_invoice(cust, "40")
        pay = payment(None, "100")
        payment_allocate(payment=pay, lines=[(inv.pk, "40")], actor=SYSTEM)
        pay.refresh_from_db(), cust.refresh_from_db()
        assert pay.customer == cust and pay.assignment_changes == 1
        assert cust.amount_due == Decimal("60")  # +100 payment - 40 invoice
        assert AuditEvent.objects.filter(action__startswith="finance.").count() == 2  # record + allocate
        assert ledger_mismatches() == []

    def test_all_or_nothing_when_one_line_is_bad(self):
        cust = customer()
        good, bad = purchase_invoice(cust, "50"), purchase_invoice(cust, "20")
        pay = payment(cust, "100")
        before = _state(cust, pay, good, bad)
        with pytest.raises(AllocationError, match="has only 20.00 outstanding"):
            payment_allocate(payment=pay, lines=[(good.pk, "50"), (bad.pk, "25")], actor=SYSTEM)
        assert _state(cust, pay, good, bad) == before

    def test_refuses_more_than_the_payment_has_unallocated(self):
        cust = customer()
        a, b = purchase_invoice(cust, "60"), purchase_invoice(cust, "60")
        pay = payment(cust, "100")
        before = _state(cust, pay, a, b)
        with pytest.raises(AllocationError, match="has only 100.00 unallocated; 110.00 was asked"):
            payment_allocate(payment=pay, lines=[(a.pk, "60"), (b.pk, "50")], actor=SYSTEM)
        assert _state(cust, pay, a, b) == before

    def test_refuses_a_payment_of_another_customer(self):
        mine, theirs = customer(), customer()
        inv = purchase_invoice(mine, "10")
        pay = payment(theirs, "100")
        before = _state(mine, theirs, pay, inv)
        with pytest.raises(AllocationError, match="belongs to another customer"):
            payment_allocate(payment=pay, lines=[(inv.pk, "10")], actor=SYSTEM)
        assert _state(mine, theirs, pay, inv) == before

    def test_refuses_invoices_of_several_customers(self):
        a, b = customer(), customer()
        ia, ib = purchase_invoice(a, "10"), purchase_invoice(b, "10")
        pay = payment(None, "100")
        with pytest.raises(AllocationError, match="different customers"):
            payment_allocate(payment=pay, lines=[(ia.pk, "5"), (ib.pk, "5")], actor=SYSTEM)

    def test_refuses_a_currency_mismatch(self):
        usd = customer(currency="USD")
        inv = purchase_invoice(usd, "10")
        pay = payment(None, "100")  # SGD
        before = _state(usd, pay, inv)
        with pytest.raises(AllocationError, match="is in SGD but .* pays in USD"):
            payment_allocate(payment=pay, lines=[(inv.pk, "10")], actor=SYSTEM)
        assert _state(usd, pay, inv) == before

    def test_refuses_a_void_invoice_a_draft_and_a_paid_one(self):
        cust = customer()
        pay = payment(cust, "500")
        draft = purchase_invoice(cust, "10", sent=False)
        with pytest.raises(AllocationError, match="is a draft"):
            payment_allocate(payment=pay, lines=[(draft.pk, "10")], actor=SYSTEM)
        voided = purchase_invoice(cust, "10")
        credit_note_issue(customer=cust, invoice=voided, amount="10", reason="cancelled", actor=SYSTEM)
        with pytest.raises(AllocationError, match="is void"):
            payment_allocate(payment=pay, lines=[(voided.pk, "1")], actor=SYSTEM)
        paid = purchase_invoice(cust, "10")
        payment_allocate(payment=pay, lines=[(paid.pk, "10")], actor=SYSTEM)
        with pytest.raises(AllocationError, match="already paid"):
            payment_allocate(payment=pay, lines=[(paid.pk, "1")], actor=SYSTEM)

    @pytest.mark.parametrize("amount, message", [
        ("0", "more than zero"), ("-1", "more than zero"), ("0.0000001", "at most 6 decimal"), ("x", "number"),
    ])
    def test_refuses_bad_amounts(self, amount, message):
        cust = customer()
        inv = purchase_invoice(cust, "10")
        pay = payment(cust, "100")
        before = _state(cust, pay, inv)
        with pytest.raises(AllocationError, match=message):
            payment_allocate(payment=pay, lines=[(inv.pk, amount)], actor=SYSTEM)
        assert _state(cust, pay, inv) == before

    def test_refuses_no_lines_and_the_same_invoice_twice(self):
        cust = customer()
        inv = purchase_invoice(cust, "10")
        pay = payment(cust, "100")
        with pytest.raises(AllocationError, match="Pick at least one"):
            payment_allocate(payment=pay, lines=[], actor=SYSTEM)
        with pytest.raises(AllocationError, match="listed twice"):
            payment_allocate(payment=pay, lines=[(inv.pk, "1"), (inv.pk, "2")], actor=SYSTEM)

    def test_assign_and_allocate_is_refused_after_five_assignment_changes(self):
        a, b = customer(), customer()
        pay = payment(None, "10")
        for _ in range(2):
            payment_assign(payment=pay, customer=a, actor=SYSTEM)
            payment_unassign(payment=pay, actor=SYSTEM)
        payment_assign(payment=pay, customer=a, actor=SYSTEM)
        inv = purchase_invoice(b, "5")
        with pytest.raises(AllocationError, match="belongs to another customer"):
            payment_allocate(payment=pay, lines=[(inv.pk, "5")], actor=SYSTEM)

    def test_default_amount_is_the_smaller_of_payment_left_and_invoice_outstanding(self):
        cust = customer()
        pay = payment(cust, "30")
        assert default_amount(pay, purchase_invoice(cust, "50")) == Decimal("30")
        assert default_amount(pay, purchase_invoice(cust, "12.5")) == Decimal("12.5")
        assert default_amount(pay, top_up_invoice(cust, "100")) == Decimal("100")


class TestAllocationReverse:
    def test_undo_gives_the_amount_back_and_keeps_the_row(self):
        cust = customer()
        inv = purchase_invoice(cust, "50")
        pay = payment(cust, "100")
        (row,) = payment_allocate(payment=pay, lines=[(inv.pk, "50")], actor=SYSTEM)
        allocation_reverse(allocation=row, actor=SYSTEM, reason="wrong invoice")
        row.refresh_from_db(), inv.refresh_from_db(), pay.refresh_from_db()
        assert row.reversed_at is not None and row.reversal_reason == "wrong invoice"
        assert inv.status == InvoiceStatus.SENT and inv.amount_paid == 0 and inv.paid_at is None
        assert pay.amount_allocated == 0 and pay.status == PaymentStatus.UNALLOCATED
        assert Allocation.objects.filter(pk=row.pk).exists()
        assert AuditEvent.objects.filter(action="finance.allocation.reverse").count() == 1
        with pytest.raises(AllocationError, match="already undone"):
            allocation_reverse(allocation=row, actor=SYSTEM)
        assert ledger_mismatches() == [] and finance_mismatches() == []


class TestAllocationPreview:
    def test_preview_shows_what_becomes_paid_and_the_figures_after_without_writing(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        monthly, topup = monthly_invoice(cust, "40"), top_up_invoice(cust, "25")
        pay = payment(None, "100")
        before = _state(cust, pay, monthly, topup)
        preview = allocation_preview(pay, [(str(monthly.pk), "15"), (str(topup.pk), "25")])
        assert _state(cust, pay, monthly, topup) == before  # read only
        assert not preview.error and preview.assigns and preview.total == Decimal("40")
        assert [(line.becomes, line.outstanding_after) for line in preview.lines] == [
            (InvoiceStatus.PARTIALLY_PAID, Decimal("25")), (InvoiceStatus.PAID, Decimal("0"))]
        assert preview.lines[1].becomes_label == "Paid and provisioned"
        # assignment +100 on due, provisioning 25: due -25, unbilled +25
        assert preview.figures_after["amount_due"] == cust.amount_due + Decimal("75")
        assert preview.figures_after["expecting_invoice"] == cust.amount_unbilled + Decimal("25")
        payment_allocate(payment=pay, lines=[(monthly.pk, "15"), (topup.pk, "25")], actor=SYSTEM)
        cust.refresh_from_db()
        assert cust.amount_due == preview.figures_after["amount_due"]
        assert cust.amount_unbilled == preview.figures_after["expecting_invoice"]

    def test_preview_usable_credits_are_the_customers_after_allocating(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        monthly, topup = monthly_invoice(cust, "40"), top_up_invoice(cust, "25")
        pay = payment(None, "100")
        cust.refresh_from_db()
        assert cust.amount_due < 0  # the assignment takes the amount due from DR to CR: max(amount due, 0) moves
        preview = allocation_preview(pay, [(monthly.pk, "15"), (topup.pk, "25")])
        assert preview.figures_before["usable_credits"] == cust.usable_credits
        payment_allocate(payment=pay, lines=[(monthly.pk, "15"), (topup.pk, "25")], actor=SYSTEM)
        cust.refresh_from_db()
        assert preview.figures_after["usable_credits"] == cust.usable_credits != preview.figures_before["usable_credits"]

    def test_preview_refuses_what_the_service_refuses(self):
        cust = customer()
        inv = purchase_invoice(cust, "10")
        pay = payment(cust, "5")
        preview = allocation_preview(pay, [(inv.pk, "10")])
        assert "has only 5.00 unallocated" in preview.error


class TestPayWithCredits:
    def test_individual_uses_unallocated_payments_first_then_credit(self):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        first = payment(cust, "30")
        topped = payment(cust, "50")
        payment_top_up(payment=topped, amount="50", actor=SYSTEM)  # individual: 50 of credit, nothing posted
        cust.refresh_from_db()
        pos = credit_position(cust)
        # available credit = amount due + outstanding on open non-top-up invoices = (80 - 100) + 100
        assert pos.available_for_invoices == cust.amount_due + pos.open_outstanding == Decimal("80")
        assert pos.unallocated_cash == Decimal("30") and pos.credit_balance == Decimal("50")
        figures = (cust.amount_due, cust.amount_unbilled)
        rows = invoice_pay_with_credits(invoice=inv, amount="70", actor=SYSTEM)
        assert [(r.source, r.payment_id, r.amount) for r in rows] == [
            (AllocationSource.PAYMENT, first.pk, Decimal("30")), (AllocationSource.CREDIT, None, Decimal("40"))]
        cust.refresh_from_db(), inv.refresh_from_db(), first.refresh_from_db()
        assert (cust.amount_due, cust.amount_unbilled) == figures  # settlement only
        assert inv.amount_paid == Decimal("70") and first.status == PaymentStatus.ALLOCATED
        assert credit_position(cust).credit_balance == Decimal("10")
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_refused_when_credits_fall_short_saying_by_how_much(self):
        cust = customer()
        inv = purchase_invoice(cust, "100")
        pay = payment(cust, "20")
        payment_top_up(payment=pay, amount="20", actor=SYSTEM)
        before = _state(cust, inv)
        with pytest.raises(AllocationError, match="has 20.00 in credits; 25.00 is needed, short by 5.00"):
            invoice_pay_with_credits(invoice=inv, amount="25", actor=SYSTEM)
        assert _state(cust, inv) == before

    def test_consolidated_moves_unbilled_credit_to_the_due_side_and_undo_reverses_it(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        pay = payment(cust, "60")
        payment_top_up(payment=pay, amount="60", actor=SYSTEM)  # due -60, unbilled +60
        inv = monthly_invoice(cust, "45")
        cust.refresh_from_db()
        balance = cust.current_balance
        (row,) = invoice_pay_with_credits(invoice=inv, amount="45", actor=SYSTEM)
        cust.refresh_from_db(), inv.refresh_from_db()
        assert row.source == AllocationSource.CREDIT and inv.status == InvoiceStatus.PAID
        assert cust.amount_unbilled == Decimal("15") and cust.current_balance == balance
        entries = Transaction.objects.filter(source_type="finance.allocation", source_id=row.pk)
        assert sorted((t.bucket, t.amount) for t in entries) == [("due", Decimal("45")), ("unbilled", Decimal("-45"))]
        assert {t.kind for t in entries} == {TransactionKind.CREDIT_APPLIED}
        allocation_reverse(allocation=row, actor=SYSTEM)
        cust.refresh_from_db(), inv.refresh_from_db()
        assert cust.amount_unbilled == Decimal("60") and inv.status == InvoiceStatus.SENT
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_refuses_a_top_up_invoice_and_a_void_one(self):
        cust = customer()
        payment_top_up(payment=payment(cust, "100"), amount="100", actor=SYSTEM)
        topup = top_up_invoice(cust, "10")
        with pytest.raises(AllocationError, match="top-up invoice"):
            invoice_pay_with_credits(invoice=topup, amount="10", actor=SYSTEM)
        invoice_void(invoice_id=topup.pk, reason="not needed", actor=SYSTEM)
        inv = purchase_invoice(cust, "10")
        credit_note_issue(customer=cust, invoice=inv, amount="10", reason="cancel", actor=SYSTEM)
        with pytest.raises(AllocationError, match="void"):
            invoice_pay_with_credits(invoice=inv, amount="10", actor=SYSTEM)
