"""The daily auto top-up's batched path (issue 24): a chunk's cheque/TT top-ups are decided and done in one
transaction with a few statements whatever their number (services.auto_top_up._top_up_batch, invoices'
invoice_top_ups_send_many), the other methods one by one after it. What must not change: each customer's audit
trail (create, send, fire), gapless invoice numbers given back when the batch rolls back, a customer whose
top-up fails not taking the others with it, at most one top-up per customer and day.

The one customer's failure is a real refusal by PostgreSQL (a trigger on the invoices table that refuses that
customer's invoice), not a mock: the batch's multi-row INSERT fails as a whole, as it would on a bad row."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.sealing import seal_all
from audit.verify import verify_chain
from customers.models import Notification, NotificationKind
from customers.selectors import ledger_mismatches
from finance.models import AutoTopUp, AutoTopUpChunk, AutoTopUpStatus, TopUpDecision, TopUpMethod
from finance.services import auto_top_up as service
from invoices.models import Invoice, InvoiceStatus
from tests.finance.auto_top_up_support import AT, RUN_DATE, SYSTEM, customer_with, transfers, wallet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def frozen(settings):
    settings.LEDGERDESK_AUTO_TOP_UP_RETRY_BACKOFF = (0, 0)
    with time_machine.travel(AT, tick=True):
        yield


def cheque(n: int, **kwargs) -> list:
    return [customer_with(TopUpMethod.CHEQUE_TT, credits="0", trigger="250", threshold="50", **kwargs)
            for _ in range(n)]


def begin(chunk_size: int = 250):
    return service.auto_top_up_run_begin(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False,
                                         chunk_size=chunk_size)


def chunk(chunk_id: int):
    return service.auto_top_up_run_chunk(chunk_id=chunk_id, actor=SYSTEM, email_via_celery=False)


def sequence(numbers: list[str]) -> list[int]:
    return [int(re.fullmatch(r"INV-\d{4}-(\d+)", n).group(1)) for n in numbers]


def without_email_deliveries(queries) -> list[str]:
    """The chunk's statements, less the emails' deliveries (run right after COMMIT in this process: each a
    transaction of its own that starts by locking its notification)."""
    kept, sqls, i = [], [q["sql"] for q in queries.captured_queries], 0
    while i < len(sqls):
        if sqls[i] == "BEGIN" and i + 1 < len(sqls) and sqls[i + 1].startswith('SELECT "customers_notification"'):
            while sqls[i] != "COMMIT":
                i += 1
        else:
            kept.append(sqls[i])
        i += 1
    return kept


def test_a_chunk_of_cheque_top_ups_takes_a_few_statements_and_keeps_each_customers_trail():
    customers = cheque(20)
    begun = begin()
    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    with CaptureQueriesContext(connection) as queries:
        result = chunk(begun.chunk_ids[0])

    assert (result.state, result.handled, result.run_finished) == ("done", 20, True)
    # One by one it took 28 statements a top-up; the batch's are a handful for the whole chunk.
    statements = without_email_deliveries(queries)
    assert len(statements) < 40, "\n".join(q[:100] for q in statements)
    invoices = list(Invoice.objects.filter(customer__in=customers).order_by("id"))
    assert len(invoices) == 20 and {i.status for i in invoices} == {InvoiceStatus.SENT}
    assert all(i.total == Decimal("250") and i.lines.get().amount == Decimal("250") for i in invoices)
    numbers = sequence([i.number for i in invoices])
    assert numbers == list(range(numbers[0], numbers[0] + 20))  # gapless, in id order
    for cust, invoice in zip(customers, invoices, strict=True):
        (row,) = AutoTopUp.objects.filter(customer=cust)
        assert (row.status, row.invoice_id, row.run_id) == (AutoTopUpStatus.FIRED, invoice.pk, begun.run.pk)
        actions = list(AuditEvent.objects.filter(id__gt=start, customer_id=cust.pk).order_by("id")
                       .values_list("action", flat=True))
        assert actions[:3] == ["invoices.invoice.create", "invoices.invoice.send", "finance.auto_top_up.fire"]
        fire = AuditEvent.objects.get(action="finance.auto_top_up.fire", customer_id=cust.pk)
        assert fire.after["invoice"] == invoice.number and fire.before == {"status": "pending"}
        send = AuditEvent.objects.get(action="invoices.invoice.send", customer_id=cust.pk)
        assert (send.before["status"], send.after["status"], send.after["number"]) == ("draft", "sent",
                                                                                       invoice.number)
    # One notification per invoice, all emailed (in one go after COMMIT), each once.
    notes = Notification.objects.filter(customer__in=customers, kind=NotificationKind.INVOICE)
    assert sorted(notes.values_list("status", flat=True)) == ["sent"] * 20
    assert len(mail.outbox) == 20 and all(m.attachments for m in mail.outbox)
    run = begun.run
    run.refresh_from_db()
    assert (run.fired_count, run.failed_count, run.skipped_count) == (20, 0, 0)
    seal_all(write_anchor=False)
    assert verify_chain().ok  # the batch's events hash and chain like any other


@pytest.fixture
def refused_invoice():
    """PostgreSQL refuses the invoices of one customer (the id set by the test), as a bad row would."""
    with connection.cursor() as cursor:
        cursor.execute("""CREATE FUNCTION test_refuse_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
                          BEGIN RAISE EXCEPTION 'invoice refused by the test'; END $$""")

    def refuse(customer_id: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"""CREATE TRIGGER test_refuse_invoice BEFORE INSERT ON invoices_invoice FOR EACH ROW
                               WHEN (NEW.customer_id = {int(customer_id)}) EXECUTE FUNCTION test_refuse_invoice()""")

    def allow() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS test_refuse_invoice ON invoices_invoice")

    yield refuse, allow
    allow()
    with connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION IF EXISTS test_refuse_invoice()")


def test_a_customer_failing_in_the_batch_fails_alone_and_gives_its_number_back(refused_invoice):
    refuse, allow = refused_invoice
    customers = cheque(6)
    victim = customers[2]
    refuse(victim.pk)
    begun = begin()

    first = chunk(begun.chunk_ids[0])

    assert first.state == "retry"  # the victim waits for the chunk's next attempt
    (record,) = AutoTopUpChunk.objects.get(pk=begun.chunk_ids[0]).errors.items()
    assert record[0] == str(victim.pk) and "invoice refused by the test" in record[1]
    others = [c for c in customers if c != victim]
    assert AutoTopUp.objects.filter(customer__in=others, status=AutoTopUpStatus.FIRED).count() == 5
    assert not AutoTopUp.objects.filter(customer=victim).exists()
    numbers = sequence(list(Invoice.objects.order_by("id").values_list("number", flat=True)))
    assert numbers == list(range(numbers[0], numbers[0] + 5))  # the rolled-back batch left no gap

    allow()
    second = chunk(begun.chunk_ids[0])

    assert (second.state, second.handled, second.run_finished) == ("done", 1, True)
    (row,) = AutoTopUp.objects.filter(customer=victim)
    assert row.status == AutoTopUpStatus.FIRED
    numbers = sequence(list(Invoice.objects.order_by("id").values_list("number", flat=True)))
    assert numbers == list(range(numbers[0], numbers[0] + 6))
    run = begun.run
    run.refresh_from_db()
    assert (run.fired_count, run.failed_count) == (6, 0)
    assert Invoice.objects.filter(customer__in=customers).count() == 6  # one each: nothing twice


def test_a_mixed_chunk_batches_the_cheques_and_does_the_others_one_by_one(settings):
    master = wallet("1000")
    cheques = cheque(3)
    by_wallet = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10") for _ in range(2)]
    refused = customer_with(TopUpMethod.CHEQUE_TT, credits="0", trigger="60", threshold="50")
    settings.LEDGERDESK_MIN_TOP_UP = Decimal("100")  # raised after the settings were made
    begun = begin()
    assert begun.run.candidates_count == 6

    result = chunk(begun.chunk_ids[0])

    assert result.state == "done"
    run = begun.run
    run.refresh_from_db()
    assert (run.fired_count, run.failed_count) == (5, 1)
    decisions = dict(run.decisions.values_list("customer_id", "decision"))
    assert {decisions[c.pk] for c in cheques + by_wallet} == {TopUpDecision.FIRED}
    assert decisions[refused.pk] == TopUpDecision.FAILED  # as invoice_create_top_up refuses it, one by one
    (row,) = AutoTopUp.objects.filter(customer=refused)
    assert row.failure_code == "invoice_refused" and "at least 100.00 SGD" in row.reason
    assert all(transfers(c) == Decimal("10") for c in by_wallet)
    master.refresh_from_db()
    assert master.balance == Decimal("980")
    assert ledger_mismatches() == []


def test_a_master_account_top_up_takes_few_statements_and_holds_the_wallet_from_its_debit_to_the_commit():
    """Master-account top-ups are done one by one after the batch (each its own transaction: a worker killed
    mid-chunk leaves each customer done or not): each costs a couple of dozen statements (33 before issue 24's
    work on it), and the wallet's row is locked by its debit only, a few statements before the COMMIT, not
    from the top-up's start (two workers queued on it for a whole top-up)."""
    master = wallet("1000")
    first, cust = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10") for _ in range(2)]
    service.auto_top_up_customer(customer_id=first.pk, run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)

    with CaptureQueriesContext(connection) as queries:
        outcome = service.auto_top_up_customer(customer_id=cust.pk, run_date=RUN_DATE, actor=SYSTEM,
                                               email_via_celery=False)

    assert outcome.decision == TopUpDecision.FIRED
    statements = without_email_deliveries(queries)
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT"
    assert len(statements) <= 24, "\n".join(q[:100] for q in statements)
    on_wallet = [i for i, sql in enumerate(statements) if re.search(r"\bcustomers_masterwallet\b", sql)]
    assert not any("FOR UPDATE" in statements[i] or "FOR NO KEY UPDATE" in statements[i] for i in on_wallet)
    (debit,) = [i for i in on_wallet if statements[i].lstrip().startswith("UPDATE")]
    assert len(statements) - 1 - debit <= 10, "\n".join(q[:100] for q in statements[debit:])
    master.refresh_from_db()
    assert master.balance == Decimal("980") and transfers(cust) == Decimal("10")
    (row,) = AutoTopUp.objects.filter(customer=cust)
    assert row.transfer_entry.transaction.customer_id == cust.pk and row.transfer_entry.amount == Decimal("-10")
    assert list(AuditEvent.objects.filter(customer_id=cust.pk, action__startswith="customers.master_wallet")
                .values_list("before__wallet_balance", "after__wallet_balance")) == [("990.000000", "980.000000")]
    assert ledger_mismatches() == []


def test_two_runs_begun_together_top_up_each_customer_once():
    customers = cheque(4)
    first, second = begin(), begin()  # the task delivered twice: both runs see the 4 as candidates
    assert first.run.candidates_count == second.run.candidates_count == 4

    chunk(first.chunk_ids[0])
    chunk(second.chunk_ids[0])

    assert AutoTopUp.objects.filter(customer__in=customers, status=AutoTopUpStatus.FIRED).count() == 4
    assert Invoice.objects.filter(customer__in=customers).count() == 4
    assert set(second.run.decisions.values_list("decision", flat=True)) == {TopUpDecision.SKIPPED_ALREADY_TODAY}


class Killed(BaseException):
    """The worker process dying mid-batch: not an error the code handles, it just stops."""


def test_a_worker_killed_in_the_middle_of_a_batch_leaves_nothing_and_the_redelivery_tops_up_each_once(monkeypatch):
    from tests.threads import run_threads

    customers = cheque(5)
    begun = begin()
    before = Invoice.objects.count()
    real = service.invoice_top_ups_send_many

    def numbered_then_killed(*args, **kwargs):  # the invoices numbered (the series row locked), then death
        real(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(service, "invoice_top_ups_send_many", numbered_then_killed)

    def worker(_n: int) -> None:
        try:
            chunk(begun.chunk_ids[0])
        except Killed:
            pass  # its connection closes with the thread: PostgreSQL rolls the batch back, the chunk's lock goes

    assert run_threads(1, worker, 60) == []
    assert Invoice.objects.count() == before and not AutoTopUp.objects.filter(customer__in=customers).exists()
    assert not Notification.objects.filter(customer__in=customers).exists()
    assert not AuditEvent.objects.filter(customer_id__in=[c.pk for c in customers],
                                         action__startswith="invoices.invoice").exists()
    monkeypatch.undo()

    redelivered = chunk(begun.chunk_ids[0])

    assert (redelivered.state, redelivered.handled, redelivered.run_finished) == ("done", 5, True)
    assert AutoTopUp.objects.filter(customer__in=customers, status=AutoTopUpStatus.FIRED).count() == 5
    invoices = Invoice.objects.filter(customer__in=customers).order_by("id")
    numbers = sequence(list(invoices.values_list("number", flat=True)))
    assert numbers == list(range(1, 6))  # the killed batch's numbers were given back: the series starts at 1
    assert AutoTopUpChunk.objects.get(pk=begun.chunk_ids[0]).attempts == 2
