"""The monthly billing run and finance draw on the same money: what a customer paid (or was credited) and has
not yet used on an invoice (invoices.selectors.unapplied_money). The run pays the monthly invoice with it:
non-cash credit as a CreditApplication, payment cash as finance allocations of those payments
(services.allocation.allocate_cash_locked, passed to the run as services.billing.PAYMENT_CASH). Finance allocates
payments, pays with credits, tops up, withdraws and gives payments back. The same money must never settle two
invoices, and check_finance / check_ledger report any customer where it did."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from audit.models import AuditEvent
from customers.models import Customer, InvoiceSetup, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from customers.services import adjustment_post
from finance.checks import (
    cash_mismatches,
    finance_mismatches,
    money_applied_mismatches,
    money_in_mismatches,
)
from finance.models import Allocation, AllocationSource, Payment, PaymentStatus, TopUp
from finance.payments.selectors import allocation_preview, default_amount
from finance.receivables.selectors import aged_receivables
from finance.rules import AllocationError
from finance.selectors import credit_balances, credit_position
from finance.services._common import FinanceError
from finance.services.allocation import allocation_reverse, invoice_pay_with_credits, payment_allocate
from finance.services.billing import PAYMENT_CASH
from finance.services.credit_notes import credit_note_issue
from finance.services.payments import PaymentError, payment_delete, payment_unassign
from finance.services.top_ups import TopUpError, payment_top_up, top_up_remove
from finance.services.withdrawals import WithdrawalError, withdrawal_record
from invoices import settlement
from invoices.models import CreditApplication, CreditSource, Invoice, InvoiceStatus
from invoices.selectors import unapplied_money
from invoices.services import bill_customer_period
from invoices.services.billing import CashSource
from tests.customers.factories import ledger_post
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db
D = Decimal
IN_FEBRUARY = dt.datetime(2026, 2, 10, 9, 0, tzinfo=dt.UTC)
AFTER_FEBRUARY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
USAGE_OF_60 = D("55.045872")  # + 9 % tax (4.954128) = a monthly invoice of exactly 60
amounts = st.one_of(st.decimals(min_value=D("0.01"), max_value=D("120"), places=2),
                    st.sampled_from([D("0.000001"), D("33.333333"), D("65.979991")]))


def bill_february(cust: Customer, cash_source: CashSource | None = PAYMENT_CASH) -> Invoice:
    """The monthly run for February for one customer (no email)."""
    invoice = bill_customer_period(customer_id=cust.pk, period="2026-02", actor=SYSTEM, cash_source=cash_source,
                                   at=AFTER_FEBRUARY, via_celery=False, send_email=False)
    cust.refresh_from_db()
    return invoice


def billed_60(setup: str = InvoiceSetup.INDIVIDUAL, paid: str = "100",
              cash_source: CashSource | None = PAYMENT_CASH) -> tuple[Customer, Payment, Invoice]:
    """The brief's scenario up to the run: a payment of `paid` assigned and unallocated (amount due CR), 60 of
    February usage billed by the run, which pays the monthly invoice with 60 of that money."""
    cust = customer(setup)
    pay = payment(cust, paid, received_date=dt.date(2026, 2, 1))
    ledger_post(cust, TransactionKind.CALL, -USAGE_OF_60, at=IN_FEBRUARY)
    monthly = bill_february(cust, cash_source)
    pay.refresh_from_db()
    return cust, pay, monthly


def state(*objs) -> list:
    """Everything a refused call must leave unchanged."""
    out = [Transaction.objects.count(), AuditEvent.objects.count(), Allocation.objects.count(),
           TopUp.objects.count(), CreditApplication.objects.count()]
    for o in objs:
        o.refresh_from_db()
        out.append(tuple(getattr(o, f, None) for f in (
            "amount_due", "amount_unbilled", "amount", "amount_allocated", "amount_topped_up", "customer_id",
            "deleted_at", "amount_paid", "status")))
    return out


def applied_to_invoices(cust: Customer) -> Decimal:
    """Σ applied to the customer's purchase and monthly invoices, from the rows."""
    allocations = sum((a.amount for a in Allocation.objects.filter(customer=cust, reversed_at__isnull=True)
                       .exclude(invoice__type="top_up")), D(0))
    credit = sum((c.amount for c in CreditApplication.objects.filter(customer=cust)), D(0))
    notes = sum((n.amount for n in cust.credit_notes.filter(invoice__isnull=False)), D(0))
    return allocations + credit + notes


def money_in(cust: Customer) -> Decimal:
    return sum((t.amount for t in Transaction.objects.filter(customer=cust, bucket="due")
                .exclude(kind__in=["invoice", "invoice_void"])), D(0))


def assert_consistent(cust: Customer) -> None:
    """Nothing applied twice, the payments' cash is money no invoice has used, every check is clean."""
    cust.refresh_from_db()
    assert applied_to_invoices(cust) <= money_in(cust)
    assert unapplied_money(cust) == money_in(cust) - applied_to_invoices(cust) >= 0
    assert credit_position(cust).unallocated_cash <= unapplied_money(cust)
    assert ledger_mismatches() == [] and money_in_mismatches() == [] and finance_mismatches() == []
    call_command("check_ledger", stdout=StringIO())
    call_command("check_finance", stdout=StringIO())


# --- the hole: the run used the payment's cash, finance must not allocate it again --------------------------------
class TestAfterTheRun:
    def test_the_run_pays_the_monthly_invoice_by_allocating_the_unallocated_payment(self):
        cust, pay, monthly = billed_60()
        assert (monthly.total, monthly.amount_paid, monthly.status) == (D("60"), D("60"), InvoiceStatus.PAID)
        assert not CreditApplication.objects.filter(invoice=monthly).exists()
        (allocation,) = Allocation.objects.filter(invoice=monthly)
        assert (allocation.source, allocation.payment_id, allocation.amount) == (AllocationSource.PAYMENT, pay.pk,
                                                                                 D("60"))
        assert allocation.created_by == SYSTEM.label
        assert (pay.amount_allocated, pay.amount_unallocated, pay.status) == (D("60"), D("40"),
                                                                            PaymentStatus.PARTIALLY_ALLOCATED)
        event = AuditEvent.objects.get(action="invoices.invoice.bill_monthly", object_id=str(monthly.pk))
        assert event.after["paid_by_payments"] == [{"payment": pay.pk, "allocation": allocation.pk,
                                                    "amount": "60.000000"}]
        position = credit_position(cust)
        assert (position.unallocated_cash, position.credit_balance, position.free_credit) == (D("40"), D(0), D(0))
        assert_consistent(cust)

    def test_allocating_the_whole_payment_to_a_new_invoice_is_refused_and_changes_nothing(self):
        cust, pay, monthly = billed_60()
        purchase = purchase_invoice(cust, "100")
        before = state(cust, pay, purchase, monthly)
        with pytest.raises(AllocationError) as refused:
            payment_allocate(payment=pay, lines=[(purchase.pk, "100")], actor=SYSTEM)
        assert str(refused.value) == f"Payment #{pay.pk} has only 40.00 unallocated; 100.00 was asked."
        assert state(cust, pay, purchase, monthly) == before
        # the preview refuses exactly what the service would, and the form offers what is left
        assert allocation_preview(pay, [(purchase.pk, "100")]).error == str(refused.value)
        assert default_amount(pay, purchase) == D("40")
        assert_consistent(cust)

    def test_what_is_left_can_be_allocated_and_then_nothing_more(self):
        cust, pay, _ = billed_60()
        purchase = purchase_invoice(cust, "100")
        payment_allocate(payment=pay, lines=[(purchase.pk, "40")], actor=SYSTEM)
        purchase.refresh_from_db(), pay.refresh_from_db()
        assert (purchase.amount_paid, purchase.status) == (D("40"), InvoiceStatus.PARTIALLY_PAID)
        assert pay.status == PaymentStatus.ALLOCATED
        with pytest.raises(AllocationError, match="has only 0.00 unallocated; 0.01 was asked"):
            payment_allocate(payment=pay, lines=[(purchase.pk, "0.01")], actor=SYSTEM)
        assert_consistent(cust)
        assert unapplied_money(cust) == D(0)

    def test_pay_with_credits_uses_only_what_is_left(self):
        cust, pay, _ = billed_60()
        purchase = purchase_invoice(cust, "100")
        before = state(cust, pay, purchase)
        with pytest.raises(AllocationError, match="has 40.00 in credits; 100.00 is needed, short by 60.00"):
            invoice_pay_with_credits(invoice=purchase, amount="100", actor=SYSTEM)
        assert state(cust, pay, purchase) == before
        rows = invoice_pay_with_credits(invoice=purchase, amount="40", actor=SYSTEM)
        assert [(r.source, r.payment_id, r.amount) for r in rows] == [(AllocationSource.PAYMENT, pay.pk, D("40"))]
        with pytest.raises(AllocationError, match="short by 0.01"):
            invoice_pay_with_credits(invoice=purchase, amount="0.01", actor=SYSTEM)
        assert_consistent(cust)

    def test_pay_with_credits_from_cash_alone_while_usage_waits_for_the_run(self):
        """Usage not invoiced yet makes the credit balance negative; an invoice the cash covers is still paid
        (it was refused, "short by 0.00"), and the run then bills the usage with what is left."""
        cust = customer()
        pay = payment(cust, "100", received_date=dt.date(2026, 2, 1))
        ledger_post(cust, TransactionKind.CALL, -USAGE_OF_60, at=IN_FEBRUARY)
        cust.refresh_from_db()
        assert credit_position(cust).credit_balance == -USAGE_OF_60
        (row,) = invoice_pay_with_credits(invoice=purchase_invoice(cust, "50"), amount="50", actor=SYSTEM)
        assert (row.payment_id, row.amount) == (pay.pk, D("50"))
        monthly = bill_february(cust)
        assert monthly.amount_paid == D("50")  # the 50 left of the payment
        assert_consistent(cust)

    def test_a_top_up_payment_cannot_turn_the_used_cash_into_credits(self):
        for setup in (InvoiceSetup.INDIVIDUAL, InvoiceSetup.CONSOLIDATED):
            cust, pay, _ = billed_60(setup)
            before = state(cust, pay)
            with pytest.raises(TopUpError, match="has only 40.00 unallocated; 100.00 cannot be topped up"):
                payment_top_up(payment=pay, amount="100", actor=SYSTEM)
            assert state(cust, pay) == before
            payment_top_up(payment=pay, amount="40", actor=SYSTEM)
            assert_consistent(cust)

    def test_the_payment_is_not_given_back_while_the_run_used_it_and_undoing_that_puts_everything_back(self):
        cust, pay, monthly = billed_60()
        before = state(cust, pay, monthly)
        for call in (lambda: payment_unassign(payment=pay, actor=SYSTEM),
                     lambda: payment_delete(payment=pay, actor=SYSTEM)):
            with pytest.raises(PaymentError, match="60.00 allocated"):
                call()
            assert state(cust, pay, monthly) == before
        # staff can undo the run's allocation like any other: the invoice owes again, the money is free again
        allocation_reverse(allocation=Allocation.objects.get(invoice=monthly), reason="wrong customer", actor=SYSTEM)
        monthly.refresh_from_db(), pay.refresh_from_db()
        assert (monthly.status, pay.amount_unallocated) == (InvoiceStatus.SENT, D("100"))
        payment_unassign(payment=pay, actor=SYSTEM)
        assert_consistent(cust)

    def test_the_used_cash_is_not_withdrawable(self):
        cust, pay, _ = billed_60()
        assert credit_position(cust).withdrawable == D(0)
        with pytest.raises(WithdrawalError, match="at most 0.00 SGD"):
            withdrawal_record(customer=cust, amount="1", method="cash", actor=SYSTEM)
        payment_top_up(payment=pay, amount="40", actor=SYSTEM)
        cust.refresh_from_db()
        assert credit_position(cust).withdrawable == D("40")
        withdrawal_record(customer=cust, amount="40", method="cash", actor=SYSTEM)
        assert_consistent(cust)

    def test_the_oldest_payment_pays_first(self):
        cust = customer()
        older, newer = payment(cust, "50"), payment(cust, "100")
        ledger_post(cust, TransactionKind.CALL, -USAGE_OF_60, at=IN_FEBRUARY)
        monthly = bill_february(cust)
        assert sorted(Allocation.objects.filter(invoice=monthly).values_list("payment_id", "amount")) == [
            (older.pk, D("50")), (newer.pk, D("10"))]
        assert_consistent(cust)

    def test_prepaid_credit_pays_the_usage_before_the_payments_cash_and_later_money_is_all_free(self):
        """An individual customer's top-up credit stays in the amount due: the run uses it first (it is what
        prepaid credit is for), then payment cash. Money paid after the run is untouched by it."""
        cust = customer()
        topped = payment(cust, "100")
        payment_top_up(payment=topped, amount="50", actor=SYSTEM)  # 50 of credit, 50 of cash
        ledger_post(cust, TransactionKind.CALL, -USAGE_OF_60, at=IN_FEBRUARY)
        monthly = bill_february(cust)
        assert list(CreditApplication.objects.filter(invoice=monthly).values_list("source", "amount")) == [
            (CreditSource.AMOUNT_DUE, D("50"))]
        assert list(Allocation.objects.filter(invoice=monthly).values_list("payment_id", "amount")) == [
            (topped.pk, D("10"))]
        later = payment(cust, "100")
        cust.refresh_from_db()
        assert credit_position(cust).unallocated_cash == D("140")  # 40 left of the first, all of the second
        payment_allocate(payment=later, lines=[(purchase_invoice(cust, "100").pk, "100")], actor=SYSTEM)
        assert_consistent(cust)

    def test_consolidated_credit_notes_then_cash_then_unbilled_top_up_credit(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        credit_note_issue(customer=cust, amount="20", reason="goodwill", actor=SYSTEM)  # on account
        cash = payment(cust, "25")
        payment_top_up(payment=payment(cust, "30"), amount="30", actor=SYSTEM)  # unbilled credit
        ledger_post(cust, TransactionKind.CALL, -USAGE_OF_60, at=IN_FEBRUARY)
        monthly = bill_february(cust)
        assert dict(CreditApplication.objects.filter(invoice=monthly).values_list("source", "amount")) == {
            CreditSource.AMOUNT_DUE: D("20"), CreditSource.UNBILLED: D("15")}
        assert list(Allocation.objects.filter(invoice=monthly).values_list("payment_id", "amount")) == [
            (cash.pk, D("25"))]
        assert monthly.status == InvoiceStatus.PAID
        assert_consistent(cust)

    def test_aged_receivables_and_the_bulk_credit_balance_agree_with_the_position(self):
        cust, pay, _ = billed_60()
        # Today is the operator's date (Asia/Singapore), not the machine's: from 16:00 UTC date.today() was
        # yesterday there and the report took its as-of-a-past-day path instead of today's.
        report = aged_receivables(timezone.localdate())
        (row,) = [r for r in report.rows if r.customer_id == cust.pk]
        assert (row.unallocated_cash, row.total, row.credits) == (D("40"), D(0), D(0))
        assert credit_balances([cust.pk]) == {cust.pk: credit_position(cust).credit_balance}


# --- the pages say so ---------------------------------------------------------------------------------------
class TestPages:
    def test_the_payment_page_lists_the_runs_allocation_and_the_allocate_page_refuses(self, finance_client):
        cust, pay, monthly = billed_60()
        purchase = purchase_invoice(cust, "100")
        page = finance_client.get(reverse("finance:payment-detail", args=[pay.pk])).content.decode()
        assert monthly.number in page and 'id="payment-unallocated">40.00<' in page
        form = finance_client.get(reverse("finance:payment-allocate", args=[pay.pk])).content.decode()
        assert f'name="amount-{purchase.pk}" value="40.00"' in form  # prefilled with what is left
        before = state(cust, pay, purchase)
        response = finance_client.post(reverse("finance:payment-allocate", args=[pay.pk]),
                                       {"invoice": [purchase.pk], f"amount-{purchase.pk}": "100"})
        assert response.status_code == 200
        assert "has only 40.00 unallocated; 100.00 was asked" in response.content.decode()
        assert state(cust, pay, purchase) == before


# --- top-up removal, withdrawals and credits on the unbilled side -------------------------------------------
class TestCreditsOtherThanCash:
    def test_a_top_up_used_by_the_run_cannot_be_removed_even_with_unbilled_credit_beside_it(self):
        """An individual customer's top-up stays on the billed side; the run used 60 of it. A positive adjustment
        (unbilled credit, never billed for individual customers) keeps the credit balance above 100, but removing
        the top-up would give the payment back 100 of cash of which 60 already paid the monthly invoice."""
        cust = customer()
        pay = payment(cust, "100", received_date=dt.date(2026, 2, 1))
        top_up = payment_top_up(payment=pay, amount="100", actor=SYSTEM)
        ledger_post(cust, TransactionKind.CALL, -USAGE_OF_60, at=IN_FEBRUARY)
        monthly = bill_february(cust)
        assert list(CreditApplication.objects.filter(invoice=monthly).values_list("amount", flat=True)) == [D("60")]
        adjustment_post(customer_id=cust.pk, amount=D("100"), reason="goodwill", actor=SYSTEM, at=AFTER_FEBRUARY)
        cust.refresh_from_db()
        assert credit_position(cust).credit_balance == D("140")
        before = state(cust, pay)
        with pytest.raises(TopUpError, match="Only 40.00 of .* credits are unspent; this top-up of 100.00 cannot"):
            top_up_remove(top_up=top_up, actor=SYSTEM)
        assert state(cust, pay) == before
        assert_consistent(cust)

    def test_individual_pay_with_unbilled_credit_moves_it_to_the_billed_side(self):
        """A positive adjustment is unbilled credit, also for individual customers: paying an invoice with it
        moves it to the billed side (CREDIT_APPLIED), so it is not left in Expecting invoice to be spent again."""
        cust = customer()
        adjustment_post(customer_id=cust.pk, amount=D("50"), reason="goodwill", actor=SYSTEM, at=AFTER_FEBRUARY)
        purchase = purchase_invoice(cust, "50")
        cust.refresh_from_db()
        usable = cust.usable_credits
        (row,) = invoice_pay_with_credits(invoice=purchase, amount="50", actor=SYSTEM)
        cust.refresh_from_db()
        assert row.source == AllocationSource.CREDIT
        entries = Transaction.objects.filter(source_type="finance.allocation", source_id=row.pk)
        assert sorted((t.bucket, t.amount) for t in entries) == [("due", D("50")), ("unbilled", D("-50"))]
        assert cust.amount_unbilled == D(0) and cust.usable_credits == usable - D("50")
        assert_consistent(cust)

    def test_consolidated_top_up_credit_is_not_paid_out_of_the_payment_cash(self):
        cust = customer(InvoiceSetup.CONSOLIDATED)
        payment(cust, "100")  # cash on the billed side
        payment_top_up(payment=payment(cust, "50"), amount="50", actor=SYSTEM)  # credit on the unbilled side
        cust.refresh_from_db()
        position = credit_position(cust)
        assert (cust.amount_due, position.credit_balance, position.free_credit) == (D("100"), D("50"), D(0))
        assert position.withdrawable == D(0)
        with pytest.raises(WithdrawalError, match="at most 0.00 SGD"):
            withdrawal_record(customer=cust, amount="50", method="cash", actor=SYSTEM)
        assert_consistent(cust)


# --- the checks report it whenever it is made behind the services' back, and the services refuse to add to it --
class TestTheChecksReportIt:
    def _old_run(self) -> tuple[Customer, Payment, Invoice]:
        """What the run did before it allocated payments' cash (a run given no cash source): a
        CreditApplication naming no payment, the payment still showing all of it unallocated."""
        cust, pay, monthly = billed_60(cash_source=None)
        assert list(CreditApplication.objects.filter(invoice=monthly).values_list("amount", flat=True)) == [D("60")]
        assert pay.amount_unallocated == D("100")
        return cust, pay, monthly

    def test_cash_shown_unallocated_but_already_used_is_reported(self):
        cust, pay, _ = self._old_run()
        assert cash_mismatches() == [(cust.pk, cust.code, D("100"), D("40"))]
        out = StringIO()
        with pytest.raises(CommandError, match="1 finance mismatch"):
            call_command("check_finance", stdout=out)
        assert (f"customer {cust.code} (#{cust.pk}): its payments show 100.000000 unallocated but only 40.000000 of "
                "the money in is not yet used on an invoice") in out.getvalue()
        with pytest.raises(CommandError, match="1 mismatch"):
            call_command("check_ledger", stdout=StringIO())

    def test_the_services_refuse_to_apply_that_cash_a_second_time(self):
        """The payment's own figure would let 100 through; the last guard, run after the writes under the
        customer's lock, refuses and nothing is left behind."""
        cust, pay, monthly = self._old_run()
        purchase = purchase_invoice(cust, "100")
        before = state(cust, pay, purchase, monthly)
        for call in (lambda: payment_allocate(payment=pay, lines=[(purchase.pk, "100")], actor=SYSTEM),
                     lambda: invoice_pay_with_credits(invoice=purchase, amount="100", actor=SYSTEM)):
            with pytest.raises(AllocationError, match="would apply 60.00 more to the customer's invoices than the "
                                                      "money received .* covers: the same money cannot settle two"):
                call()
            assert state(cust, pay, purchase, monthly) == before
        payment_allocate(payment=pay, lines=[(purchase.pk, "40")], actor=SYSTEM)  # what is really left
        assert money_applied_mismatches() == []

    def test_money_applied_twice_is_reported_by_check_finance_and_check_ledger(self):
        cust, pay, _ = self._old_run()
        purchase = purchase_invoice(cust, "100")
        with transaction.atomic():  # what finance did before this fix: the payment's own figure only
            Allocation.objects.create(source=AllocationSource.PAYMENT, payment=pay, invoice=purchase, customer=cust,
                                      amount=D("100"), created_at=AFTER_FEBRUARY, created_by="tests")
            settlement.apply(purchase, D("100"), at=AFTER_FEBRUARY)
            Payment.objects.filter(pk=pay.pk).update(amount_allocated=F("amount_allocated") + D("100"))
        cust.refresh_from_db()
        assert unapplied_money(cust) == D("-60")
        assert money_applied_mismatches() == [(cust.pk, cust.code, D("100"), D("160"))]
        line = (f"customer {cust.code} (#{cust.pk}): 160.000000 applied to its invoices (allocations, credit "
                "applications, credit notes) but only 100.000000 came in")
        out = StringIO()
        with pytest.raises(CommandError, match="1 finance mismatch"):
            call_command("check_finance", stdout=out)
        assert line in out.getvalue()
        out = StringIO()
        with pytest.raises(CommandError, match="1 mismatch"):
            call_command("check_ledger", stdout=out)
        assert line in out.getvalue()  # the same check in the same words as check_finance's
        assert ledger_mismatches() == []  # the ledger's own totals are right: the fault is what was applied


# --- runs and every finance operation, mixed at random on one customer --------------------------------------
class RunsAndFinanceMachine(RuleBasedStateMachine):
    """One customer (individual or consolidated), month after month: usage, the monthly run, payments,
    purchase invoices, allocations, paying with credits, top-ups and their removal, withdrawals, un-assigning,
    credit notes and undoing allocations (the run's too), in any order and any amount. No model of the
    outcome: after every step the money applied to the customer's invoices is at most the money in, the
    payments' unallocated cash is money no invoice has used, check_finance / check_ledger find nothing, and
    every refusal changed nothing."""

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.month = dt.date(2024, 1, 1)  # every run's month has ended long ago (payments cannot be future)
        self.payments: list[int] = []
        self.invoices: list[int] = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize(setup=st.sampled_from([InvoiceSetup.INDIVIDUAL, InvoiceSetup.CONSOLIDATED]), first=amounts)
    def a_customer_with_a_payment(self, setup, first):
        self.cust = customer(setup)
        self.payments.append(payment(self.cust, first, received_date=dt.date(2024, 1, 1)).pk)

    # --- helpers ---------------------------------------------------------------------------------------------
    def _try(self, call) -> None:
        """Run a service; a refusal (FinanceError) must leave everything as it was."""
        before = self._snapshot()
        try:
            call()
        except FinanceError:
            assert self._snapshot() == before, "a refusal changed something"

    def _snapshot(self):
        return (Transaction.objects.count(), AuditEvent.objects.count(),
                list(Allocation.objects.order_by("pk").values_list("amount", "reversed_at")),
                list(TopUp.objects.order_by("pk").values_list("amount", "removed_at")),
                list(Payment.objects.order_by("pk").values_list("customer_id", "amount_allocated", "amount_topped_up")),
                list(Invoice.objects.order_by("pk").values_list("amount_paid", "amount_credited", "status")),
                tuple(Customer.objects.filter(pk=self.cust.pk).values_list("amount_due", "amount_unbilled").get()))

    def _open_invoice(self, data) -> Invoice | None:
        open_ = list(Invoice.objects.filter(customer=self.cust, status__in=["sent", "partially_paid"])
                     .exclude(type="top_up").order_by("pk"))
        return data.draw(st.sampled_from(open_)) if open_ else None

    def _payment(self, data) -> Payment:
        """One of the customer's payments (an un-assigned one only now and then: its refusals are dull)."""
        mine = list(Payment.objects.filter(customer=self.cust).order_by("pk").values_list("pk", flat=True))
        pool = mine if mine and data.draw(st.integers(0, 9)) else self.payments
        return Payment.objects.get(pk=data.draw(st.sampled_from(pool)))

    # --- rules -----------------------------------------------------------------------------------------------
    @rule(amount=amounts)
    def receive(self, amount):
        self.payments.append(payment(self.cust, amount).pk)

    @rule(amount=st.decimals(min_value=D("0.01"), max_value=D("90"), places=2))
    def use(self, amount):
        ledger_post(self.cust, TransactionKind.CALL, -amount,
                    at=dt.datetime.combine(self.month + dt.timedelta(days=9), dt.time(12), tzinfo=dt.UTC))

    @rule(amount=st.decimals(min_value=D("0.01"), max_value=D("90"), places=2))
    def use_then_run(self, amount):
        """The common month: some usage, then the run bills it (and applies the money in to it)."""
        self.use(amount)
        self.monthly_run()

    @rule()
    def monthly_run(self):
        nxt = (self.month + dt.timedelta(days=32)).replace(day=1)
        invoice = bill_customer_period(cash_source=PAYMENT_CASH, customer_id=self.cust.pk, period=self.month,
                                       actor=SYSTEM,
                                       at=dt.datetime.combine(nxt + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC),
                                       via_celery=False, send_email=False)
        self.month = nxt
        if invoice is not None:
            self.invoices.append(invoice.pk)

    @precondition(lambda self: self.cust.invoice_setup == InvoiceSetup.INDIVIDUAL)
    @rule(total=st.decimals(min_value=D("5"), max_value=D("150"), places=2))
    def buy(self, total):
        self.invoices.append(purchase_invoice(self.cust, total).pk)

    @rule(data=st.data(), amount=amounts, whole=st.booleans())
    def allocate(self, data, amount, whole):
        invoice, pay = self._open_invoice(data), self._payment(data)
        if invoice is None:
            return
        if whole:  # all that is left on the payment or the invoice
            amount = min(pay.amount_unallocated, invoice.amount_outstanding)
        self._try(lambda: payment_allocate(payment=pay, lines=[(invoice.pk, amount)], actor=SYSTEM))

    @rule(data=st.data(), amount=amounts, whole=st.booleans())
    def pay_with_credits(self, data, amount, whole):
        invoice = self._open_invoice(data)
        if invoice is None:
            return
        self._try(lambda: invoice_pay_with_credits(invoice=invoice, amount=invoice.amount_outstanding if whole else amount,
                                                   actor=SYSTEM))

    @rule(data=st.data(), amount=amounts, whole=st.booleans())
    def top_up(self, data, amount, whole):
        pay = self._payment(data)
        if whole and pay.amount_unallocated > 0:
            amount = pay.amount_unallocated

        self._try(lambda: payment_top_up(payment=pay, amount=amount, actor=SYSTEM))

    @precondition(lambda self: TopUp.objects.filter(customer=self.cust, removed_at__isnull=True).exists())
    @rule(data=st.data())
    def remove_top_up(self, data):
        ids = list(TopUp.objects.filter(customer=self.cust, removed_at__isnull=True).order_by("pk")
                   .values_list("pk", flat=True))
        top_up = TopUp.objects.get(pk=data.draw(st.sampled_from(ids)))
        self._try(lambda: top_up_remove(top_up=top_up, actor=SYSTEM))

    @rule(amount=amounts)
    def withdraw(self, amount):
        self._try(lambda: withdrawal_record(customer=self.cust, amount=amount, method="cash", actor=SYSTEM))

    @rule(data=st.data())
    def unassign(self, data):
        pay = self._payment(data)
        self._try(lambda: payment_unassign(payment=pay, actor=SYSTEM))

    @rule(data=st.data(), amount=amounts, against=st.booleans())
    def credit_note(self, data, amount, against):
        invoice = self._open_invoice(data) if against else None
        if invoice is not None:
            amount = min(amount, invoice.amount_outstanding)
        self._try(lambda: credit_note_issue(customer=self.cust, amount=amount, reason="model", invoice=invoice,
                                            actor=SYSTEM))

    @precondition(lambda self: Allocation.objects.filter(customer=self.cust, reversed_at__isnull=True).exists())
    @rule(data=st.data())
    def undo(self, data):
        ids = list(Allocation.objects.filter(customer=self.cust, reversed_at__isnull=True).order_by("pk")
                   .values_list("pk", flat=True))
        allocation = Allocation.objects.get(pk=data.draw(st.sampled_from(ids)))
        self._try(lambda: allocation_reverse(allocation=allocation, actor=SYSTEM))

    # --- after every step ------------------------------------------------------------------------------------
    @invariant()
    def never_more_applied_than_came_in(self):
        cust = Customer.objects.get(pk=self.cust.pk)
        assert applied_to_invoices(cust) <= money_in(cust)
        assert unapplied_money(cust) == money_in(cust) - applied_to_invoices(cust)
        position = credit_position(cust)
        assert ZERO_ <= position.unallocated_cash <= position.unapplied  # payment cash is money no invoice used
        assert credit_balances([cust.pk]) == {cust.pk: position.credit_balance}
        assert ZERO_ <= position.withdrawable <= position.free_credit

    @invariant()
    def the_checks_find_nothing(self):
        # finance_mismatches includes money_applied_mismatches and cash_mismatches (check_ledger's registered
        # check is the same query)
        assert finance_mismatches() == [] and ledger_mismatches() == []


ZERO_ = D(0)
TestRunsAndFinance = RunsAndFinanceMachine.TestCase
TestRunsAndFinance.settings = settings(max_examples=20, stateful_step_count=20, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
