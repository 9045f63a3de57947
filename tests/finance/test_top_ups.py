"""Top-ups: provisioning a top-up invoice by allocation, top-up payments, and their removal while the credits
are unspent, for each invoice setup's ledger rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from customers.models import InvoiceSetup, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from finance.checks import finance_mismatches
from finance.models import Allocation, PaymentStatus, TopUp
from finance.rules import AllocationError
from finance.services.allocation import allocation_reverse, invoice_pay_with_credits, payment_allocate
from finance.services.top_ups import TopUpError, payment_top_up, top_up_remove
from finance.services.withdrawals import withdrawal_record
from invoices.models import InvoiceStatus
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.django_db


def _state(*objs):
    out = [Transaction.objects.count(), AuditEvent.objects.count(), TopUp.objects.count(),
           Allocation.objects.filter(reversed_at__isnull=True).count()]
    for o in objs:
        o.refresh_from_db()
        out.append(tuple(getattr(o, f, None) for f in ("amount_due", "amount_unbilled", "amount_allocated",
                                                        "amount_topped_up", "status", "provisioned_at")))
    return out


class TestProvisioning:
    @pytest.mark.parametrize("setup", [InvoiceSetup.CONSOLIDATED, InvoiceSetup.NONE])
    def test_consolidated_and_none_get_unbilled_credit_from_a_top_up_pair(self, setup):
        cust = customer(setup)
        inv = top_up_invoice(cust, "100")
        pay = payment(cust, "150")
        cust.refresh_from_db()
        balance, usable = cust.current_balance, cust.usable_credits
        payment_allocate(payment=pay, lines=[(inv.pk, "100")], actor=SYSTEM)
        cust.refresh_from_db(), inv.refresh_from_db()
        assert inv.status == InvoiceStatus.PAID and inv.provisioned_at is not None
        assert cust.amount_unbilled == Decimal("100") and cust.amount_due == Decimal("50")
        assert cust.current_balance == balance  # provisioning moves money, it creates none
        assert cust.usable_credits == usable
        top_up = TopUp.objects.get(invoice=inv)
        assert top_up.posted_to_ledger and top_up.amount == Decimal("100")
        pair = Transaction.objects.filter(source_type="finance.topup", source_id=top_up.pk)
        assert sorted((t.kind, t.bucket, t.amount) for t in pair) == [
            (TransactionKind.TOP_UP, "due", Decimal("-100")), (TransactionKind.TOP_UP, "unbilled", Decimal("100"))]
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_individual_posts_nothing_but_records_the_top_up(self):
        cust = customer(InvoiceSetup.INDIVIDUAL)
        inv = top_up_invoice(cust, "100")
        pay = payment(cust, "100")
        before = Transaction.objects.count()
        payment_allocate(payment=pay, lines=[(inv.pk, "100")], actor=SYSTEM)
        cust.refresh_from_db(), inv.refresh_from_db()
        assert Transaction.objects.count() == before
        assert cust.amount_due == Decimal("100") and cust.usable_credits == Decimal("100")
        assert inv.provisioned_at is not None and not TopUp.objects.get(invoice=inv).posted_to_ledger

    def test_an_unsent_top_up_invoice_is_refused(self):
        cust = customer()
        inv = top_up_invoice(cust, "100", sent=False)
        pay = payment(cust, "100")
        before = _state(cust, pay, inv)
        with pytest.raises(AllocationError, match="has not been sent; send it or mark it as sent"):
            payment_allocate(payment=pay, lines=[(inv.pk, "100")], actor=SYSTEM)
        assert _state(cust, pay, inv) == before

    def test_a_top_up_invoice_is_paid_in_full_only(self):
        cust = customer()
        inv = top_up_invoice(cust, "100")
        pay = payment(cust, "100")
        with pytest.raises(AllocationError, match="paid in full: allocate exactly 100.00"):
            payment_allocate(payment=pay, lines=[(inv.pk, "60")], actor=SYSTEM)

    def test_provisioning_happens_once(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        inv = top_up_invoice(cust, "10")
        pay = payment(cust, "100")
        payment_allocate(payment=pay, lines=[(inv.pk, "10")], actor=SYSTEM)
        with pytest.raises(AllocationError, match="already paid"):
            payment_allocate(payment=pay, lines=[(inv.pk, "10")], actor=SYSTEM)
        # and the database holds the line whatever the code does
        existing = TopUp.objects.get(invoice=inv)
        with pytest.raises(IntegrityError), transaction.atomic():
            TopUp.objects.create(customer=cust, payment=pay, invoice=inv, allocation=Allocation.objects.create(
                payment=pay, invoice=inv, customer=cust, amount=Decimal("10"), created_at=timezone.now()),
                amount=Decimal("10"), created_at=timezone.now())
        assert TopUp.objects.filter(invoice=inv).get() == existing


class TestRemoval:
    def test_removing_a_provisioned_top_up_invoice_undoes_it_and_keeps_history(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        inv = top_up_invoice(cust, "100")
        pay = payment(cust, "100")
        (alloc,) = payment_allocate(payment=pay, lines=[(inv.pk, "100")], actor=SYSTEM)
        top_up = TopUp.objects.get(invoice=inv)
        top_up_remove(top_up=top_up, actor=SYSTEM, reason="sent to the wrong account")
        cust.refresh_from_db(), inv.refresh_from_db(), pay.refresh_from_db(), alloc.refresh_from_db()
        top_up.refresh_from_db()
        assert top_up.removed_at is not None and alloc.reversed_at is not None
        assert inv.status == InvoiceStatus.SENT and inv.provisioned_at is None and inv.amount_paid == 0
        assert pay.amount_unallocated == Decimal("100") and pay.status == PaymentStatus.UNALLOCATED
        assert cust.amount_unbilled == 0 and cust.amount_due == Decimal("100")
        kinds = Transaction.objects.filter(source_type="finance.topup", source_id=top_up.pk).values_list("kind", flat=True)
        assert sorted(kinds) == [TransactionKind.TOP_UP] * 2 + [TransactionKind.TOP_UP_REMOVAL] * 2
        assert AuditEvent.objects.filter(action="finance.top_up.remove").count() == 1
        # it can be provisioned again afterwards (only one ACTIVE provisioning)
        payment_allocate(payment=pay, lines=[(inv.pk, "100")], actor=SYSTEM)
        assert TopUp.objects.filter(invoice=inv).count() == 2
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_undoing_the_allocation_of_a_top_up_invoice_is_the_same_removal(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        inv = top_up_invoice(cust, "40")
        pay = payment(cust, "40")
        (alloc,) = payment_allocate(payment=pay, lines=[(inv.pk, "40")], actor=SYSTEM)
        allocation_reverse(allocation=alloc, actor=SYSTEM)
        assert TopUp.objects.get(invoice=inv).removed_at is not None
        assert ledger_mismatches() == [] and finance_mismatches() == []

    @pytest.mark.parametrize("setup", [InvoiceSetup.CONSOLIDATED, InvoiceSetup.INDIVIDUAL])
    def test_refused_once_the_credits_are_spent_with_the_reason(self, setup):
        cust = customer(setup)
        inv = top_up_invoice(cust, "100")
        pay = payment(cust, "100")
        payment_allocate(payment=pay, lines=[(inv.pk, "100")], actor=SYSTEM)
        ledger_post(cust, TransactionKind.CALL, "-0.25")  # a call spent a little of it
        top_up = TopUp.objects.get(invoice=inv)
        before = _state(cust, pay, inv)
        with pytest.raises(TopUpError, match="Only 99.75.* unspent; this top-up of 100.00 cannot be removed"):
            top_up_remove(top_up=top_up, actor=SYSTEM)
        assert _state(cust, pay, inv) == before

    def test_refused_when_the_credit_paid_an_invoice_or_was_withdrawn(self):
        cust = customer()
        pay = payment(cust, "100")
        top_up = payment_top_up(payment=pay, amount="100", actor=SYSTEM)
        inv = purchase_invoice(cust, "30")
        invoice_pay_with_credits(invoice=inv, amount="30", actor=SYSTEM)
        with pytest.raises(TopUpError, match="cannot be removed"):
            top_up_remove(top_up=top_up, actor=SYSTEM)
        other = payment_top_up(payment=payment(cust, "10"), amount="10", actor=SYSTEM)
        withdrawal_record(customer=cust, amount="75", method="bank_transfer", actor=SYSTEM)
        with pytest.raises(TopUpError, match="cannot be removed"):
            top_up_remove(top_up=other, actor=SYSTEM)

    def test_removing_twice_is_refused(self):
        cust = customer()
        top_up = payment_top_up(payment=payment(cust, "10"), amount="10", actor=SYSTEM)
        top_up_remove(top_up=top_up, actor=SYSTEM)
        with pytest.raises(TopUpError, match="already removed"):
            top_up_remove(top_up=top_up, actor=SYSTEM)


class TestTopUpPayment:
    def test_turns_part_of_the_unallocated_amount_into_credits(self):
        cust = customer(InvoiceSetup.NONE)
        pay = payment(cust, "100")
        top_up = payment_top_up(payment=pay, amount="40.5", remark="March credits", actor=SYSTEM)
        pay.refresh_from_db(), cust.refresh_from_db()
        assert pay.amount_topped_up == Decimal("40.5") and pay.amount_unallocated == Decimal("59.5")
        assert cust.amount_unbilled == Decimal("40.5") and cust.amount_due == Decimal("59.5")
        assert top_up.invoice is None and top_up.posted_to_ledger
        top_up_remove(top_up=top_up, actor=SYSTEM)
        pay.refresh_from_db(), cust.refresh_from_db()
        assert pay.amount_topped_up == 0 and cust.amount_unbilled == 0 and cust.amount_due == Decimal("100")
        assert ledger_mismatches() == [] and finance_mismatches() == []

    def test_refuses_more_than_unallocated_an_unassigned_payment_and_bad_amounts(self):
        cust = customer()
        pay = payment(cust, "50")
        before = _state(cust, pay)
        with pytest.raises(TopUpError, match="has only 50.00 unallocated"):
            payment_top_up(payment=pay, amount="50.000001", actor=SYSTEM)
        for bad, message in (("0", "more than zero"), ("-3", "more than zero"), ("1.1234567", "6 decimal")):
            with pytest.raises(TopUpError, match=message):
                payment_top_up(payment=pay, amount=bad, actor=SYSTEM)
        assert _state(cust, pay) == before
        with pytest.raises(TopUpError, match="not assigned"):
            payment_top_up(payment=payment(None, "5"), amount="5", actor=SYSTEM)
