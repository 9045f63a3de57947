"""The monthly billing run in chunks (issue 24): a chunk's invoices are worked out in parallel with other
chunks and numbered by one set-based statement before COMMIT; numbers stay gapless and unique, a chunk that
fails as a whole is billed customer by customer, and the ledger stays consistent."""

import datetime as dt
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from customers.models import Customer, InvoiceSetup, Notification, Transaction
from customers.selectors import ledger_mismatches
from finance.checks import money_in_mismatches
from finance.services.billing import PAYMENT_CASH
from invoices.models import Invoice, InvoiceLine, InvoiceLineEntry, InvoiceType, NumberSeries
from invoices.numbering import next_number, number_invoices
from invoices.services.billing_run import bill_chunk
from tests.customers.factories import CustomerFactory, top_up
from tests.invoices.factories import SYSTEM, purchase_invoice, usage
from tests.threads import run_threads

D = Decimal
SGT = ZoneInfo("Asia/Singapore")
IN_FEB = dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT)
AT = dt.datetime(2026, 3, 1, 1, 0, tzinfo=SGT)


def chunk(ids, **kwargs):
    return bill_chunk(period="2026-02", customer_ids=ids, actor=SYSTEM, cash_source=PAYMENT_CASH, at=AT,
                      via_celery=False, **kwargs)


def customers(n, setup=InvoiceSetup.INDIVIDUAL, amount="2.5"):
    made = []
    for i in range(n):
        c = CustomerFactory(invoice_setup=setup, billing_email=f"ap{i}@example.com")
        usage(c, amount, at=IN_FEB)
        made.append(c)
    return made


def series_numbers() -> list[int]:
    return sorted(int(n.rsplit("-", 1)[1]) for n in Invoice.objects.filter(issue_date__year=2026)
                  .values_list("number", flat=True))


@pytest.mark.django_db
class TestOneChunk:
    def test_numbers_follow_the_series_in_issue_order_and_reach_every_ledger_row(self):
        earlier = purchase_invoice(CustomerFactory(), issue_date=dt.date(2026, 3, 1))  # takes INV-2026-000001
        billed = customers(4) + customers(2, InvoiceSetup.CONSOLIDATED)
        top_up(billed[-1], "1")  # consolidated unbilled credit: a CREDIT_APPLIED pair carrying the number too

        result = chunk([c.pk for c in billed])

        assert result.failed == [] and result.nothing_to_bill == 0 and len(result.invoiced) == 6
        invoices = list(Invoice.objects.filter(pk__in=result.invoiced).order_by("pk"))
        assert earlier.number == "INV-2026-000001"
        assert [i.number for i in invoices] == [f"INV-2026-{n:06d}" for n in range(2, 8)]  # id order = issue order
        assert NumberSeries.objects.get(key="INV-2026").last_value == 7
        for invoice in invoices:
            entries = Transaction.objects.filter(invoice_line_entry__line__invoice=invoice)
            assert entries.count() == 1 and entries.get().billed_document == invoice.number
            posted = Transaction.objects.filter(source_type="invoices.invoice", source_id=invoice.pk)
            assert posted.exists() and {t.reference for t in posted} == {invoice.number}
        assert Notification.objects.filter(source_id__in=result.invoiced).count() == 6
        assert all(i.number in Notification.objects.get(source_id=i.pk).subject for i in invoices)
        assert ledger_mismatches() == [] and money_in_mismatches() == []

    def test_a_second_chunk_over_the_same_customers_bills_nothing(self):
        billed = customers(3)
        first = chunk([c.pk for c in billed])
        again = chunk([c.pk for c in billed])
        assert len(first.invoiced) == 3 and again.invoiced == [] and again.nothing_to_bill == 3
        assert Invoice.objects.filter(type=InvoiceType.MONTHLY).count() == 3
        assert series_numbers() == [1, 2, 3]

    def test_one_bad_customer_fails_alone_and_rolls_its_numbers_back(self):
        """An entry already linked to another invoice's line refuses the batch's INSERT (unique link): the
        chunk is rolled back as a whole and billed customer by customer; only that customer fails, and the
        numbers stay gapless."""
        good = customers(3)
        bad = CustomerFactory(invoice_setup=InvoiceSetup.INDIVIDUAL)
        entry = usage(bad, "9", at=IN_FEB)
        other = purchase_invoice(CustomerFactory())
        InvoiceLineEntry.objects.create(line=InvoiceLine.objects.filter(invoice=other).first(), transaction=entry)

        result = chunk([c.pk for c in good] + [bad.pk])

        assert [cid for cid, _ in result.failed] == [bad.pk] and len(result.invoiced) == 3
        assert not Invoice.objects.filter(customer=bad, type=InvoiceType.MONTHLY).exists()
        assert series_numbers() == [1, 2, 3, 4]  # the purchase invoice's 1, then 2-4: no gap
        assert ledger_mismatches() == []

    def test_customers_that_do_not_exist_or_are_never_invoiced_or_have_nothing(self):
        none = CustomerFactory(invoice_setup=InvoiceSetup.NONE)
        usage(none, "3", at=IN_FEB)
        idle = CustomerFactory()
        result = chunk([987654, none.pk, idle.pk])
        assert result.failed == [(987654, "There is no customer #987654.")]
        assert result.nothing_to_bill == 2 and result.invoiced == []


@pytest.mark.django_db
class TestNumberingStatement:
    def test_numbers_only_the_invoices_without_one_and_never_cuts_a_seventh_digit(self):
        NumberSeries.objects.create(key="INV-2026", last_value=999_998)
        billed = customers(3)
        result = chunk([c.pk for c in billed])
        assert set(Invoice.objects.filter(pk__in=result.invoiced).values_list("number", flat=True)) == {
            "INV-2026-999999", "INV-2026-1000000", "INV-2026-1000001"}
        with transaction.atomic():
            assert number_invoices("INV", 2026, result.invoiced) == {}  # all numbered: nothing moves
        assert NumberSeries.objects.get(key="INV-2026").last_value == 1_000_001


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_leaves_an_invoice_without_a_number_is_refused():
    customer = CustomerFactory()
    with pytest.raises(IntegrityError, match="has no number at commit"), transaction.atomic():
        Invoice.objects.create(number=None, customer=customer, type=InvoiceType.PURCHASE, name="x", currency="SGD",
                               issue_date=dt.date(2026, 3, 1), due_date=dt.date(2026, 3, 1))
    assert not Invoice.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_chunks_billed_at_once_share_one_gapless_series_with_single_invoices():
    """Four threads: two bill chunks, two take single numbers (a purchase invoice each time) meanwhile. Every
    number once, none missing, and the ledger consistent."""
    groups = [customers(6), customers(6)]
    others = [CustomerFactory() for _ in range(2)]
    barrier = threading.Barrier(4)

    def work(n):
        barrier.wait()
        if n < 2:
            result = chunk([c.pk for c in groups[n]])
            assert len(result.invoiced) == 6 and result.failed == []
        else:
            for _ in range(3):
                purchase_invoice(others[n - 2], issue_date=dt.date(2026, 3, 1))
        connection.close()

    assert run_threads(4, work) == []
    assert series_numbers() == list(range(1, 19))
    assert ledger_mismatches() == [] and money_in_mismatches() == []


@pytest.mark.django_db
def test_next_number_and_the_chunk_statement_continue_each_other():
    with transaction.atomic():
        assert next_number("INV", 2026) == "INV-2026-000001"
    result = chunk([c.pk for c in customers(2)])
    assert sorted(Invoice.objects.filter(pk__in=result.invoiced).values_list("number", flat=True)) == [
        "INV-2026-000002", "INV-2026-000003"]
    with transaction.atomic():
        assert next_number("INV", 2026) == "INV-2026-000004"
    assert Customer.objects.count() == 2
