"""Never miss, never double (issue 24): runs on days 1, 2 and 3 bill only what is left, chunks are claimed
once (a stale claim is taken over), a failing customer is recorded on the run and retried with back-off, and
the check finds customers with unbilled charges of a closed month and no invoice for it."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from audit.models import AuditEvent
from customers.models import InvoiceSetup
from finance.services.billing import PAYMENT_CASH
from invoices.models import (
    BillingRunChunk,
    BillingRunFailure,
    ChunkStatus,
    Invoice,
    InvoiceLine,
    InvoiceLineEntry,
)
from invoices.selectors import closed_before, unbilled_closed_months
from invoices.services.billing_run import (
    MAX_ATTEMPTS,
    RETRY_BASE,
    STALE_AFTER,
    billing_run_start,
    claim_chunk,
    retry_failures,
    run_chunk,
    run_progress,
    stale_chunks,
)
from tests.customers.factories import CustomerFactory
from tests.invoices.factories import SYSTEM, purchase_invoice, usage

pytestmark = pytest.mark.django_db

SGT = ZoneInfo("Asia/Singapore")
IN_FEB = dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT)
DAY1 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=SGT)


def customers(n, setup=InvoiceSetup.INDIVIDUAL):
    made = []
    for _ in range(n):
        c = CustomerFactory(invoice_setup=setup)
        usage(c, "3", at=IN_FEB)
        made.append(c)
    return made


def start(at=DAY1, chunk_size=2, **kwargs):
    return billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, at=at, chunk_size=chunk_size, **kwargs)


def work(run):
    for chunk in run.chunks.order_by("seq"):
        run_chunk(chunk.pk, actor=SYSTEM, cash_source=PAYMENT_CASH, send_email=False)
    run.refresh_from_db()
    return run


def break_billing(customer):
    """An entry of the customer already linked to another invoice's line: billing it is refused (unique link)."""
    entry = usage(customer, "9", at=IN_FEB)
    line = InvoiceLine.objects.filter(invoice=purchase_invoice(CustomerFactory())).first()
    return InvoiceLineEntry.objects.create(line=line, transaction=entry)


def test_beat_starts_a_run_on_days_1_2_and_3_and_resumes_every_5_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["monthly-billing-run"]
    assert entry["task"] == "finance.tasks.billing_run_start"
    assert entry["schedule"].day_of_month == {1, 2, 3}
    assert settings.CELERY_BEAT_SCHEDULE["billing-run-resume"]["task"] == "finance.tasks.billing_run_resume"


class TestDaysOneTwoThree:
    def test_day_two_bills_only_what_day_one_missed(self):
        billed = customers(3)
        broken = customers(1)[0]
        link = break_billing(broken)
        day1 = work(start())
        assert day1.customers_total == 4 and day1.chunks_total == 2 and day1.finished_at is not None
        progress = run_progress(day1)
        assert (progress["invoices_issued"], progress["failed"], progress["customers_to_do"]) == (3, 1, 0)
        assert AuditEvent.objects.filter(action="invoices.billing_run.start").count() == 1

        link.delete()  # staff fixed the cause
        day2 = work(start(at=DAY1 + dt.timedelta(days=1)))
        assert day2.customers_total == 1 and run_progress(day2)["invoices_issued"] == 1
        day3 = work(start(at=DAY1 + dt.timedelta(days=2)))
        assert day3.customers_total == 0 and day3.finished_at is not None
        assert sorted(Invoice.objects.filter(type="monthly").values_list("customer_id", flat=True)) == sorted(
            c.pk for c in [*billed, broken])

    def test_a_run_before_the_month_ends_is_refused(self):
        from invoices.services import BillingError

        with pytest.raises(BillingError, match="has not ended yet"):
            start(at=IN_FEB)


class TestChunks:
    def test_a_chunk_is_claimed_once_and_a_done_chunk_never_again(self):
        customers(2)
        run = start()
        chunk = run.chunks.get()
        assert claim_chunk(chunk.pk, at=DAY1).status == ChunkStatus.RUNNING
        assert claim_chunk(chunk.pk, at=DAY1 + dt.timedelta(minutes=1)) is None  # fresh claim: another worker's
        again = claim_chunk(chunk.pk, at=DAY1 + STALE_AFTER + dt.timedelta(seconds=1))  # its worker died
        assert again is not None and again.attempts == 2
        BillingRunChunk.objects.filter(pk=chunk.pk).update(status=ChunkStatus.DONE)
        assert claim_chunk(chunk.pk, at=DAY1 + 10 * STALE_AFTER) is None
        assert run_chunk(chunk.pk, actor=SYSTEM, cash_source=PAYMENT_CASH)["skipped"]

    def test_stale_and_lost_chunks_are_handed_out_again_until_the_run_finishes(self):
        customers(4)
        run = start()
        first, second = run.chunks.order_by("seq")
        claim_chunk(first.pk, at=DAY1)
        later = DAY1 + STALE_AFTER + dt.timedelta(seconds=1)
        assert stale_chunks(at=DAY1 + dt.timedelta(minutes=1)) == []
        assert stale_chunks(at=later) == [first.pk, second.pk]  # a killed worker's claim, a lost message
        work(run)
        assert stale_chunks(at=later) == []
        assert Invoice.objects.filter(type="monthly").count() == 4


class TestFailures:
    def test_a_failing_customer_is_recorded_retried_with_back_off_and_resolved(self):
        good = customers(1)[0]
        broken = customers(1)[0]
        link = break_billing(broken)
        run = work(start())
        failure = BillingRunFailure.objects.get(run=run)
        assert failure.customer_id == broken.pk and failure.attempts == 1
        assert "already billed" in failure.error or "duplicate key" in failure.error
        assert Invoice.objects.filter(customer=good, type="monthly").exists()
        assert run_progress(run)["failures_open"] == 1

        first_retry = failure.next_attempt_at
        assert retry_failures(actor=SYSTEM, cash_source=PAYMENT_CASH, at=first_retry - dt.timedelta(seconds=1)) == {
            "retried": 0, "billed": 0, "failed": 0}
        assert retry_failures(actor=SYSTEM, cash_source=PAYMENT_CASH, at=first_retry)["failed"] == 1
        failure.refresh_from_db()
        assert failure.attempts == 2
        assert failure.next_attempt_at - failure.last_failed_at == RETRY_BASE * 4  # back-off grows

        link.delete()
        assert retry_failures(actor=SYSTEM, cash_source=PAYMENT_CASH, at=failure.next_attempt_at)["billed"] == 1
        failure.refresh_from_db()
        assert failure.resolved_at is not None and failure.next_attempt_at is None
        assert Invoice.objects.filter(customer=broken, type="monthly").count() == 1
        assert run_progress(run)["failures_open"] == 0

    def test_retries_stop_after_the_last_attempt_and_stay_shown(self):
        broken = customers(1)[0]
        break_billing(broken)
        run = work(start())
        failure = BillingRunFailure.objects.get(run=run)
        for _ in range(MAX_ATTEMPTS - 1):
            retry_failures(actor=SYSTEM, cash_source=PAYMENT_CASH, at=failure.next_attempt_at)
            failure.refresh_from_db()
        assert failure.attempts == MAX_ATTEMPTS and failure.next_attempt_at is None and failure.resolved_at is None
        assert run_progress(run)["failures_given_up"] == 1


class TestUnbilledClosedMonths:
    def test_finds_a_missed_customer_once_the_billing_days_are_over(self):
        missed = customers(1)[0]
        billed = customers(1)[0]
        consolidated = customers(1, InvoiceSetup.CONSOLIDATED)[0]
        never = customers(1, InvoiceSetup.NONE)[0]
        work(start(customer_ids=[billed.pk]))
        assert closed_before(DAY1 + dt.timedelta(days=2)) == dt.date(2026, 2, 1)  # day 3: February still open
        assert unbilled_closed_months(DAY1 + dt.timedelta(days=2)) == []
        found = unbilled_closed_months(DAY1 + dt.timedelta(days=3))  # day 4
        assert [(m.customer_id, m.period, m.entries, m.amount) for m in found] == [
            (missed.pk, dt.date(2026, 2, 1), 1, Decimal("-3")), (consolidated.pk, dt.date(2026, 2, 1), 1, Decimal("-3"))]
        assert "no monthly invoice" in str(found[0]) and never.pk not in [m.customer_id for m in found]

    def test_a_straggler_of_a_billed_month_is_not_a_miss(self):
        customer = customers(1)[0]
        work(start())
        usage(customer, "1", at=IN_FEB - dt.timedelta(days=20))  # a late January call, posted after the run
        assert unbilled_closed_months(DAY1 + dt.timedelta(days=10)) == []

    def test_check_ledger_reports_them(self):
        from django.core.management import call_command
        from django.core.management.base import CommandError

        customers(1)
        with pytest.raises(CommandError):
            call_command("check_ledger")


def test_the_command_prints_a_progress_bar_and_records_its_run(capsys):
    import time_machine
    from django.core.management import call_command

    from invoices.models import BillingRun

    customers(3)
    with time_machine.travel(DAY1, tick=False):
        call_command("billing_run", "--period", "2026-02", "--no-email")
    out = capsys.readouterr().out
    run = BillingRun.objects.get()
    assert f"Billing run #{run.pk} for 2026-02: 3 customers in 1 chunks" in out
    assert "[" + "#" * 30 + "] 3 / 3 customers (100%), 3 invoices issued, 0 failed" in out
    assert run.trigger == "command" and run.finished_at is not None
