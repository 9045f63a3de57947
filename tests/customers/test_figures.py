"""The figures of DESIGN.md ("The customer account and its figures"), with the source's worked examples,
each invoice setup's unbilled rule and the credit limit's monthly "reset"."""

import json
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from customers import ledger
from customers.locks import lock_customer
from customers.models import Bucket, InvoiceSetup, Transaction, TransactionKind
from customers.money import display_signed
from customers.selectors import customer_figures, ledger_mismatches
from customers.services._common import figures
from invoices.selectors import billable_entries
from tests.customers.factories import NOW, ledger_post, postpaid, prepaid, top_up

pytestmark = pytest.mark.django_db
D = Decimal


def billed_by_the_run(customer, at=None):
    """The charges the monthly run bills for the month of `at` (invoices.selectors.billable_entries)."""
    entries, _ = billable_entries([customer], timezone.localdate(at or timezone.now()).replace(day=1))
    return entries[customer.pk]


def bill(customer, rows, document="INV-TEST-1"):
    """What an invoice does to the ledger: mark the entries billed and post its total on the due side."""
    with transaction.atomic():
        locked = lock_customer(customer.pk)
        total = ledger.mark_billed(locked, [r.pk for r in rows], document=document, at=NOW)
        ledger.post(locked, [ledger.Entry(kind=TransactionKind.INVOICE, amount=total, reference=document)], at=NOW)
    customer.refresh_from_db()
    return total


class TestTheSourceExamples:
    def test_example_1_a_dr_balance(self):
        customer = postpaid("2000", invoice_setup=InvoiceSetup.CONSOLIDATED)
        ledger_post(customer, TransactionKind.CALL, "-1000.61")
        ledger_post(customer, TransactionKind.SMS, "-610.00")
        ledger_post(customer, TransactionKind.INVOICE, "-0.20544", reference="INV-1")

        figures = customer_figures(customer)
        assert figures.expecting_invoice == D("-1610.61")
        assert figures.amount_due == D("-0.20544")
        assert figures.current_balance == D("-1610.81544")
        assert display_signed(figures.current_balance, "SGD") == "-1,610.81544 SGD DR"

    def test_example_2_a_cr_balance(self):
        customer = prepaid(invoice_setup=InvoiceSetup.CONSOLIDATED)
        top_up(customer, "65.98")
        ledger_post(customer, TransactionKind.INVOICE, "-0.000009", reference="INV-2")

        figures = customer_figures(customer)
        assert figures.expecting_invoice == D("65.98")
        assert figures.amount_due == D("-0.000009")
        assert figures.current_balance == D("65.979991")
        assert display_signed(figures.current_balance, "SGD") == "65.979991 SGD CR"


class TestUsableCredits:
    def test_is_credit_limit_plus_expecting_invoice_plus_a_cr_amount_due_less_reserved(self):
        from customers.services import reservation_reserve
        from tests.customers.factories import SYSTEM

        customer = postpaid("100", invoice_setup=InvoiceSetup.INDIVIDUAL)
        ledger_post(customer, TransactionKind.CALL, "-30")
        ledger_post(customer, TransactionKind.PAYMENT, "50")  # overpaid: CR amount due counts
        reservation_reserve(customer_id=customer.pk, amount=D("5"), actor=SYSTEM, at=NOW)
        customer.refresh_from_db()
        assert customer.usable_credits == D("100") + D("-30") + D("50") - D("5")

    def test_the_sql_functions_record_the_same_figures_as_the_services(self):
        """customers_figures (customers/sql/reservations.sql) is the reservation functions' copy of
        customers.services._common.figures: the same names for the same columns."""
        from customers.services import reservation_reserve
        from tests.customers.factories import SYSTEM

        customer = postpaid("100", invoice_setup=InvoiceSetup.INDIVIDUAL)
        ledger_post(customer, TransactionKind.CALL, "-30.5")
        ledger_post(customer, TransactionKind.PAYMENT, "50")
        reservation_reserve(customer_id=customer.pk, amount=D("5"), actor=SYSTEM, at=NOW)
        customer.refresh_from_db()
        with connection.cursor() as cursor:
            cursor.execute("SELECT customers_figures(c)::text FROM customers_customer c WHERE c.id = %s", [customer.pk])
            in_sql = json.loads(cursor.fetchone()[0])
        assert in_sql == {name: str(value) for name, value in figures(customer).items()}
        assert in_sql["usable_credits"] == "114.500000"

    def test_a_dr_amount_due_does_not_reduce_usable_credits(self):
        customer = postpaid("100")
        ledger_post(customer, TransactionKind.INVOICE, "-70")
        assert customer.usable_credits == D("100")
        assert customer.current_balance == D("-70")


ENTRIES = [
    (TransactionKind.CALL, "-10"),
    (TransactionKind.SMS, "-1"),
    (TransactionKind.SUBSCRIPTION, "-20"),
    (TransactionKind.HARDWARE, "-100"),
    (TransactionKind.TOP_UP, "50"),
]


class TestEachInvoiceSetupsUnbilledRule:
    def _customer_with_entries(self, setup):
        customer = postpaid("500", invoice_setup=setup)
        rows = {kind: ledger_post(customer, kind, amount) for kind, amount in ENTRIES}
        return customer, rows

    def test_individual_top_up_credit_stays_in_the_amount_due_and_the_monthly_run_bills_usage_only(self):
        customer, rows = self._customer_with_entries(InvoiceSetup.INDIVIDUAL)
        assert rows[TransactionKind.TOP_UP].bucket == Bucket.DUE
        assert customer.amount_due == D("50")
        # a purchase is billed at once by its own invoice...
        bill(customer, [rows[TransactionKind.SUBSCRIPTION], rows[TransactionKind.HARDWARE]], "INV-P1")
        # ...so what stays unbilled until the monthly run is the usage
        assert customer.expecting_invoice == D("-11")
        assert {kind for _, kind, *_ in billed_by_the_run(customer)} == {TransactionKind.CALL, TransactionKind.SMS}
        assert customer.amount_due == D("50") - D("120")

    def test_individual_monthly_run_leaves_unbilled_purchases_to_their_own_invoice(self):
        customer, rows = self._customer_with_entries(InvoiceSetup.INDIVIDUAL)
        billable = billed_by_the_run(customer)
        assert {kind for _, kind, *_ in billable} == {TransactionKind.CALL, TransactionKind.SMS}

    def test_consolidated_every_transaction_is_unbilled_until_the_monthly_run(self):
        customer, rows = self._customer_with_entries(InvoiceSetup.CONSOLIDATED)
        assert all(r.bucket == Bucket.UNBILLED for r in rows.values())
        assert customer.expecting_invoice == D("-81")
        assert customer.amount_due == D("0")
        # every entry waits unbilled (the run bills the charges and applies the CR as credit; billing them all
        # here moves the same money)
        billable = list(Transaction.objects.filter(customer=customer, bucket=Bucket.UNBILLED, billed_at__isnull=True))
        assert {t.pk for t in billable} == {r.pk for r in rows.values()}
        bill(customer, billable, "INV-M1")
        assert customer.expecting_invoice == D("0")
        assert customer.amount_due == D("-81")
        assert customer.current_balance == D("-81")  # billing moves money between figures, never changes the balance

    def test_none_every_transaction_is_unbilled_and_never_billed(self):
        customer, rows = self._customer_with_entries(InvoiceSetup.NONE)
        assert all(r.bucket == Bucket.UNBILLED for r in rows.values())
        assert customer.expecting_invoice == D("-81")
        assert list(billed_by_the_run(customer)) == []

    def test_the_monthly_run_takes_only_entries_before_the_period_end(self):
        import datetime as dt

        customer = postpaid("500", invoice_setup=InvoiceSetup.CONSOLIDATED)
        old = ledger_post(customer, TransactionKind.CALL, "-1", at=NOW - dt.timedelta(days=40))
        ledger_post(customer, TransactionKind.CALL, "-2", at=NOW)
        # the month of the old call ends between the two calls
        assert [e[0] for e in billed_by_the_run(customer, NOW - dt.timedelta(days=40))] == [old.pk]


class TestCreditLimitResetsAfterBilling:
    def test_billing_the_unbilled_usage_gives_the_credit_limit_back(self):
        customer = postpaid("100", invoice_setup=InvoiceSetup.INDIVIDUAL)
        calls = [ledger_post(customer, TransactionKind.CALL, "-40"), ledger_post(customer, TransactionKind.CALL, "-55")]
        assert customer.usable_credits == D("5")

        bill(customer, calls, "INV-M-2026-03")

        assert customer.expecting_invoice == D("0")
        assert customer.amount_due == D("-95")  # now owed on an invoice...
        assert customer.usable_credits == D("100")  # ...and the credit limit is whole again
        ledger_post(customer, TransactionKind.PAYMENT, "95")
        assert customer.amount_due == D("0") and customer.usable_credits == D("100")
        assert ledger_mismatches() == []

    def test_billing_twice_is_refused(self):
        customer = postpaid("100", invoice_setup=InvoiceSetup.CONSOLIDATED)
        call = ledger_post(customer, TransactionKind.CALL, "-40")
        bill(customer, [call], "INV-A")
        with pytest.raises(ValueError, match="already billed"):
            bill(customer, [call], "INV-B")
        customer.refresh_from_db()
        assert customer.expecting_invoice == D("0") and customer.amount_due == D("-40")


def test_a_refused_billing_changes_nothing_even_when_the_caller_carries_on():
    """mark_billed refuses before it writes: a caller catching the error in its own transaction is not left
    with entries marked billed and the totals not moved."""
    customer = postpaid("100", invoice_setup=InvoiceSetup.CONSOLIDATED)
    a = ledger_post(customer, TransactionKind.CALL, "-10")
    b = ledger_post(customer, TransactionKind.CALL, "-5")
    bill(customer, [b], "INV-1")
    with transaction.atomic():
        locked = lock_customer(customer.pk)
        with pytest.raises(ValueError, match="already billed"):
            ledger.mark_billed(locked, [a.pk, b.pk], document="INV-2", at=NOW)
    a.refresh_from_db()
    assert a.billed_at is None
    assert ledger_mismatches() == []


def test_the_signed_figure_is_the_same_html_and_escapes_the_currency():
    from decimal import Decimal

    from django.template import engines

    def signed(value, currency=""):
        """{% signed value currency %} as a page renders it."""
        return engines["django"].from_string("{% signed value currency %}").render(
            {"value": value, "currency": currency})

    assert signed(Decimal("-1610.81544"), "SGD") == '<span class="amount dr">-1,610.81544 SGD <b>DR</b></span>'
    assert signed(Decimal("65.5")) == '<span class="amount cr">65.50  <b>CR</b></span>'
    assert signed(Decimal("1"), "<i>") == '<span class="amount cr">1.00 &lt;i&gt; <b>CR</b></span>'
    assert signed(None) == ""
