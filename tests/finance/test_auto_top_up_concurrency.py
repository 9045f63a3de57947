"""The auto top-up under concurrency, against PostgreSQL: threads with their own connections, started
together. At most one top-up per customer per day, and the master wallet never below zero."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal

import psycopg
import pytest
import time_machine
from django.db import connection

from customers.models import MasterWallet, MasterWalletEntry
from customers.selectors import ledger_mismatches
from finance.models import (
    AutoTopUp,
    AutoTopUpChunk,
    AutoTopUpDecision,
    AutoTopUpRun,
    AutoTopUpStatus,
    TopUpDecision,
    TopUpMethod,
)
from finance.services.auto_top_up import (
    auto_top_up_customer,
    auto_top_up_run_begin,
    auto_top_up_run_chunk,
    run_daily_auto_top_up,
)
from invoices.models import Invoice
from tests.finance.auto_top_up_support import AT, RUN_DATE, SYSTEM, customer_with, transfers, wallet
from tests.threads import join, run_calls, start_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=True):
        yield


def together(calls: list) -> list:
    """Run each zero-argument call in its own thread, released at the same moment; their results in order.
    An exception in a thread is returned as the result, for the test to look at."""
    return run_calls(calls, timeout=120)


def test_the_master_wallet_drawn_by_many_customers_at_once_never_goes_below_zero():
    master = wallet("500")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="100", threshold="50")
                 for _ in range(12)]
    outcomes = together([
        (lambda c=c: auto_top_up_customer(customer_id=c.pk, run_date=RUN_DATE, actor=SYSTEM,
                                          email_via_celery=False))
        for c in customers])

    assert Counter(o.decision for o in outcomes) == {TopUpDecision.FIRED: 5, TopUpDecision.FAILED: 7}
    assert {o.reason.split(",")[0] for o in outcomes if o.decision == TopUpDecision.FAILED} == {
        f"The master wallet {master.name} holds 0.00 SGD"}
    assert MasterWallet.objects.get(pk=master.pk).balance == Decimal("0")
    assert sum(transfers(c) for c in customers) == Decimal("500")
    assert ledger_mismatches() == []


def test_many_workers_on_the_same_customer_top_it_up_once():
    wallet("1000")
    cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="100", threshold="50")
    outcomes = together([
        lambda: auto_top_up_customer(customer_id=cust.pk, run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
        for _ in range(8)])
    assert Counter(o.decision for o in outcomes) == {TopUpDecision.FIRED: 1, TopUpDecision.SKIPPED_ALREADY_TODAY: 7}
    assert transfers(cust) == Decimal("100")
    assert AutoTopUp.objects.filter(customer=cust).count() == 1


def test_two_runs_at_once_give_one_top_up_per_customer():
    wallet("100000")
    master_ones = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10") for _ in range(15)]
    cheque_ones = [customer_with(TopUpMethod.CHEQUE_TT, credits="0", trigger="10") for _ in range(15)]
    runs = together([lambda: run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
                     for _ in range(2)])

    assert sum(r.fired_count for r in runs) == 30 and sum(r.skipped_count for r in runs) == 30
    assert AutoTopUp.objects.filter(run_date=RUN_DATE, status=AutoTopUpStatus.FIRED).count() == 30
    assert all(transfers(c) == Decimal("10") for c in master_ones)
    assert all(Invoice.objects.filter(customer=c).count() == 1 for c in cheque_ones)
    per_customer = Counter(AutoTopUpDecision.objects.filter(decision=TopUpDecision.FIRED)
                           .values_list("customer_id", flat=True))
    assert set(per_customer.values()) == {1} and len(per_customer) == 30
    assert ledger_mismatches() == []


def test_a_run_s_chunks_taken_by_four_workers_at_once_top_up_each_candidate_once_and_finish_the_run_once():
    """Four workers handed every chunk of one run (each in another order: a redelivery racing the first
    delivery): each chunk is handled by one of them (its advisory lock), each candidate topped up once, one
    decision each, and the run finished once by the chunk that ended last."""
    master = wallet("1000")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10") for _ in range(40)]
    rich = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="900")
    started = auto_top_up_run_begin(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, chunk_size=5)
    assert len(started.chunk_ids) == 8 and not started.finished
    orders = [started.chunk_ids, started.chunk_ids[::-1], started.chunk_ids[4:] + started.chunk_ids[:4],
              started.chunk_ids[::2] + started.chunk_ids[1::2]]
    results = together([
        (lambda order=order: [auto_top_up_run_chunk(chunk_id=c, actor=SYSTEM, email_via_celery=False) for c in order])
        for order in orders])
    assert not [r for r in results if isinstance(r, BaseException)]
    states = Counter(r.state for rs in results for r in rs)
    assert states["done"] == 8 and states["done"] + states["busy"] + states["done earlier"] == 32
    assert sum(r.run_finished for rs in results for r in rs) == 1
    run = AutoTopUpRun.objects.get(pk=started.run.pk)
    assert run.finished_at is not None
    assert (run.customers_count, run.fired_count, run.skipped_count, run.failed_count) == (41, 40, 1, 0)
    assert all(transfers(c) == Decimal("10") for c in customers) and transfers(rich) == 0
    master.refresh_from_db()
    assert master.balance == Decimal("600")
    assert AutoTopUpDecision.objects.filter(run=run).count() == 41
    assert set(AutoTopUpChunk.objects.filter(run=run).values_list("status", "attempts")) == {("done", 1)}
    assert ledger_mismatches() == []


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_past_the_wallet_check_when_it_holds_enough_for_one_top_up_exactly_one():
    """Both workers read a wallet that holds enough for one of them (its read takes no lock), write their
    customers' legs, and only then wait on the wallet's row, at its debit (held here by a third transaction, so
    both surely get that far). Released, one is debited; the other's debit, re-checked by PostgreSQL on the new
    balance, touches nothing: that top-up fails as a too-low wallet, its legs rolled back, the wallet at zero."""
    master = wallet("100")
    first, second = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="100", threshold="50")
                     for _ in range(2)]
    outcomes: dict[int, object] = {}

    def top_up(n: int) -> None:
        outcomes[n] = auto_top_up_customer(customer_id=(first, second)[n].pk, run_date=RUN_DATE, actor=SYSTEM,
                                           email_via_celery=False)

    holder = psycopg.connect(_database_url())
    watcher = psycopg.connect(_database_url(), autocommit=True)
    threads: list = []
    try:
        holder.execute("SELECT 1 FROM customers_masterwallet WHERE id = %s FOR NO KEY UPDATE", [master.pk])
        threads, errors = start_threads(2, top_up)
        _wait_for(lambda: watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query LIKE %s", ["%UPDATE customers_masterwallet SET balance = balance -%"]).fetchone()[0] == 2,
            "both workers to wait at the wallet's debit")
        # Each has written its customer's legs already (uncommitted): both hold the ledger's and the wallet
        # entries' tables for their inserts while they wait.
        for table in ("customers_transaction", "customers_masterwalletentry"):
            assert watcher.execute(
                "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE a.wait_event_type = 'Lock' AND l.granted AND l.mode = 'RowExclusiveLock'"
                " AND l.relation = %s::regclass", [table]).fetchone()[0] == 2, table
    finally:
        holder.rollback()
        holder.close()
        watcher.close()
        join(threads, 120)
    assert errors == []

    assert sorted(o.decision for o in outcomes.values()) == [TopUpDecision.FAILED, TopUpDecision.FIRED]
    (failed,) = [o for o in outcomes.values() if o.decision == TopUpDecision.FAILED]
    row = AutoTopUp.objects.get(pk=failed.auto_top_up_id)
    assert row.failure_code == "master_wallet_insufficient"
    assert row.reason.startswith(f"The master wallet {master.name} holds 0.00 SGD, less than the 100.00 SGD")
    assert MasterWallet.objects.get(pk=master.pk).balance == Decimal("0")
    assert sorted([transfers(first), transfers(second)]) == [Decimal("0"), Decimal("100")]
    assert MasterWalletEntry.objects.filter(wallet=master, customer__isnull=False).count() == 1
    assert ledger_mismatches() == []
