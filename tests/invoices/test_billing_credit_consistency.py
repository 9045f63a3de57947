"""The monthly run's credit and finance's allocations draw on the same money (money in that no invoice has used
yet, invoices.selectors.unapplied_money): the run applies only what finance has not allocated, finance only
what the run has not applied, whatever the order and under concurrency. And invoices' billable_entries (the
run's own definition) says exactly what the run bills."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from customers.models import Customer, InvoiceSetup, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from customers.services import adjustment_post
from finance.checks import (
    cash_mismatches,
    finance_mismatches,
    money_applied_mismatches,
    money_in_mismatches,
)
from finance.models import Allocation, Payment
from finance.services._common import FinanceError
from finance.services.allocation import invoice_pay_with_credits, payment_allocate
from finance.services.billing import PAYMENT_CASH
from finance.services.payments import payment_record
from finance.services.top_ups import payment_top_up
from invoices.models import CreditApplication, CreditSource, Invoice, InvoiceStatus
from invoices.selectors import billable_entries, unapplied_money
from invoices.services import bill_customer_period
from invoices.services.billing import CashSource
from tests.customers.factories import CustomerFactory, ledger_post
from tests.invoices.factories import SYSTEM, purchase_invoice, usage
from tests.threads import run_calls

D = Decimal
SGT = ZoneInfo("Asia/Singapore")
IN_FEB = dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT)
AT = dt.datetime(2026, 3, 1, 1, 0, tzinfo=SGT)  # the run on the 1st
USAGE_OF_60 = D("55.045872")  # + 9 % tax = 60.000000


def bill(customer: Customer, period: str = "2026-02", at: dt.datetime = AT,
         cash_source: CashSource | None = PAYMENT_CASH) -> Invoice | None:
    return bill_customer_period(customer_id=customer.pk, period=period, actor=SYSTEM, cash_source=cash_source,
                                at=at, via_celery=False, send_email=False)


def pay(customer: Customer | None, amount: str) -> Payment:
    return payment_record(customer=customer, amount=D(amount), received_date=dt.date(2026, 2, 1),
                          method="bank_transfer", actor=SYSTEM)


def purchase(customer: Customer, total: str) -> Invoice:
    """A sent purchase invoice of exactly `total` (no tax)."""
    from invoices.services import PurchaseLine

    return purchase_invoice(customer, [PurchaseLine(description="Seats", quantity="1", unit_price=total,
                                                    tax_rate="0")], sent=True)


def applied(customer: Customer) -> Decimal:
    allocations = sum((a.amount for a in Allocation.objects.filter(customer=customer, reversed_at__isnull=True)
                       .exclude(invoice__type="top_up")), D(0))
    return allocations + sum((c.amount for c in CreditApplication.objects.filter(customer=customer)), D(0))


def money_in(customer: Customer) -> Decimal:
    return sum((t.amount for t in Transaction.objects.filter(customer=customer, bucket="due")
                .exclude(kind="invoice")), D(0))


def assert_nothing_applied_twice(customer: Customer) -> None:
    customer.refresh_from_db()
    assert applied(customer) <= money_in(customer)
    assert unapplied_money(customer) == money_in(customer) - applied(customer) >= 0
    assert money_applied_mismatches() == [] and cash_mismatches() == [] and finance_mismatches() == []
    assert ledger_mismatches() == [] and money_in_mismatches() == []


@pytest.mark.django_db
class TestAllocateFirstThenRun:
    def test_the_run_applies_only_what_finance_has_not_allocated(self, customer):
        payment = pay(customer, "100")
        bought = purchase(customer, "70")
        payment_allocate(payment=payment, lines=[(bought.pk, "70")], actor=SYSTEM)
        usage(customer, USAGE_OF_60, at=IN_FEB)
        monthly = bill(customer)
        assert (monthly.total, monthly.amount_paid, monthly.status) == (D("60"), D("30"), InvoiceStatus.PARTIALLY_PAID)
        assert not CreditApplication.objects.filter(invoice=monthly).exists()
        assert list(Allocation.objects.filter(invoice=monthly).values_list("payment_id", "amount")) == [
            (payment.pk, D("30"))]  # the 30 left of the payment, recorded on it
        payment.refresh_from_db()
        assert payment.amount_unallocated == D(0)
        assert_nothing_applied_twice(customer)

    def test_money_allocated_in_full_leaves_the_monthly_invoice_to_be_paid(self, customer):
        payment = pay(customer, "100")
        payment_allocate(payment=payment, lines=[(purchase(customer, "100").pk, "100")], actor=SYSTEM)
        usage(customer, USAGE_OF_60, at=IN_FEB)
        monthly = bill(customer)
        assert (monthly.amount_paid, monthly.status) == (D(0), InvoiceStatus.SENT)
        assert not CreditApplication.objects.filter(invoice=monthly).exists()
        with pytest.raises(FinanceError, match="short by 60.00"):
            invoice_pay_with_credits(invoice=monthly, amount="60", actor=SYSTEM)
        assert_nothing_applied_twice(customer)

    def test_paid_with_credits_before_the_run_is_not_applied_again(self, customer):
        payment = pay(customer, "100")
        payment_top_up(payment=payment, amount="50", actor=SYSTEM)  # 50 cash, 50 top-up credit
        invoice_pay_with_credits(invoice=purchase(customer, "80"), amount="80", actor=SYSTEM)
        usage(customer, USAGE_OF_60, at=IN_FEB)
        monthly = bill(customer)
        assert monthly.amount_paid == D("20")  # 100 in, 80 used: 20 left for the run
        assert_nothing_applied_twice(customer)

    def test_consolidated_cash_then_top_up_credit_never_more_than_came_in(self, consolidated):
        payment_top_up(payment=pay(consolidated, "30"), amount="30", actor=SYSTEM)  # unbilled credit 30
        cash = pay(consolidated, "20")
        usage(consolidated, USAGE_OF_60, at=IN_FEB)
        monthly = bill(consolidated)
        sources = dict(CreditApplication.objects.filter(invoice=monthly).values_list("source", "amount"))
        assert sources == {CreditSource.UNBILLED: D("30")}
        assert list(Allocation.objects.filter(invoice=monthly).values_list("payment_id", "amount")) == [
            (cash.pk, D("20"))]
        assert monthly.amount_paid == D("50")
        with pytest.raises(FinanceError, match="has only 0.00 unallocated"):
            payment_allocate(payment=cash, lines=[(monthly.pk, "10")], actor=SYSTEM)
        assert_nothing_applied_twice(consolidated)

    def test_without_finance_the_run_applies_all_the_unapplied_money_as_credit(self, customer):
        """The CashSource is finance's (its task and command pass it); without it (cash_source=None) the run
        cannot know which money is a payment's, and applies it all as credit in the amount due (what it did
        before)."""
        ledger_post(customer, TransactionKind.PAYMENT, D("100"), at=IN_FEB)  # money in, no finance rows
        usage(customer, USAGE_OF_60, at=IN_FEB)
        monthly = bill(customer, cash_source=None)
        assert list(CreditApplication.objects.filter(invoice=monthly).values_list("source", "amount")) == [
            (CreditSource.AMOUNT_DUE, D("60"))]


def billed_by_the_run(customer: Customer, period: dt.date) -> set[int]:
    """The ids of the entries the run bills for the period: its charges and staff's reversals of them."""
    entries, reversals = billable_entries([customer], period)
    return {e[0] for e in entries[customer.pk]} | {r[0] for r in reversals[customer.pk]}


@pytest.mark.django_db
class TestMonthlyBillableAgreesWithTheRun:
    def test_individual_usage_and_its_reversals_only(self, customer):
        """DESIGN.md's setup table: for `individual` customers only usage charges (and staff's reversals of
        them) wait for the monthly run; purchases, top-ups and other adjustments are not billed by it."""
        call = usage(customer, "10", at=IN_FEB)
        duplicate = usage(customer, "2.5", at=IN_FEB)
        sms = usage(customer, "0.05", kind=TransactionKind.SMS, at=IN_FEB)
        reversal = adjustment_post(customer_id=customer.pk, reverses_id=duplicate.pk, reason="rated twice",
                                   actor=SYSTEM, at=AT + dt.timedelta(hours=1))  # after the period: goes with it
        ledger_post(customer, TransactionKind.SUBSCRIPTION, D("-20"), at=IN_FEB)  # a purchase invoice's job
        adjustment_post(customer_id=customer.pk, amount=D("5"), reason="goodwill", actor=SYSTEM, at=IN_FEB)
        adjustment_post(customer_id=customer.pk, amount=D("-3"), reason="fee", actor=SYSTEM, at=IN_FEB)
        ledger_post(customer, TransactionKind.TOP_UP, D("50"), at=IN_FEB)
        ledger_post(customer, TransactionKind.CALL, D("1"), at=IN_FEB)  # a positive usage entry is credit
        usage(customer, "7", at=dt.datetime(2026, 3, 2, tzinfo=SGT))  # next month
        expected = {call.pk, duplicate.pk, sms.pk, reversal.pk}
        assert billed_by_the_run(customer, dt.date(2026, 2, 1)) == expected
        invoice = bill(customer, at=AT + dt.timedelta(hours=2))
        billed = set(Transaction.objects.filter(customer=customer, billed_document=invoice.number)
                     .values_list("pk", flat=True))
        assert billed == expected
        assert billed_by_the_run(customer, dt.date(2026, 2, 1)) == set()

    def test_a_reversal_of_a_charge_billed_earlier_stays_unbilled_credit(self, customer):
        call = usage(customer, "10", at=IN_FEB)
        bill(customer)
        reversal = adjustment_post(customer_id=customer.pk, reverses_id=call.pk, reason="disputed", actor=SYSTEM,
                                   at=dt.datetime(2026, 3, 5, tzinfo=SGT))
        assert reversal.pk not in billed_by_the_run(customer, dt.date(2026, 3, 1))
        assert bill(customer, "2026-03", at=dt.datetime(2026, 4, 1, 1, 0, tzinfo=SGT)) is None  # nothing billed
        reversal.refresh_from_db()
        assert reversal.billed_at is None


# --- concurrency: the run and finance racing on one customer --------------------------------------------------
def _race(customer_id: int, calls: list) -> list[str]:
    def outcome(result) -> str:
        if isinstance(result, FinanceError):
            return f"refused: {result}"
        if isinstance(result, Exception):
            return f"error: {type(result).__name__}: {result}"
        return "ok"

    return [outcome(result) for result in run_calls(calls, timeout=60)]


@pytest.mark.django_db(transaction=True)
def test_runs_and_allocations_racing_on_one_customer_never_apply_more_than_came_in():
    """Each round: an `individual` customer with 100 received on two payments and 60 of usage; the run for
    February, two allocations and two payments with credits race (5 threads) for the same money (60 + 4 x 50
    asked, 100 in). Whatever wins, what is applied never exceeds what came in, and the checks are clean."""
    for round_ in range(4):
        customer = CustomerFactory(code=f"RACE{round_}", invoice_setup=InvoiceSetup.INDIVIDUAL)
        older, newer = pay(customer, "60"), pay(customer, "40")
        usage(customer, USAGE_OF_60, at=IN_FEB)
        a, b, c, d = (purchase(customer, "50") for _ in range(4))
        outcomes = _race(customer.pk, [
            partial(bill, customer),
            partial(payment_allocate, payment=older, lines=[(a.pk, "50")], actor=SYSTEM),
            partial(payment_allocate, payment=newer, lines=[(b.pk, "40")], actor=SYSTEM),
            partial(invoice_pay_with_credits, invoice=c, amount="50", actor=SYSTEM),
            partial(invoice_pay_with_credits, invoice=d, amount="30", actor=SYSTEM),
        ])
        assert len(outcomes) == 5 and not [o for o in outcomes if o.startswith("error")], outcomes
        assert "ok" in outcomes
        assert_nothing_applied_twice(customer)
        customer.refresh_from_db()
        total_paid = sum(Invoice.objects.filter(customer=customer).values_list("amount_paid", flat=True), D(0))
        assert total_paid == applied(customer) == D("100") - unapplied_money(customer)
