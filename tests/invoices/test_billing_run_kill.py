"""A real Celery worker process killed (SIGKILL) in the middle of a billing chunk: every customer of the chunk
is billed once or not at all, the numbers are given back, the ledger is consistent, and the next run finishes
the work (issue 24, "never miss, never double")."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from customers.selectors import ledger_mismatches
from finance.checks import money_in_mismatches
from finance.services.billing import PAYMENT_CASH
from finance.tasks import bill_billing_chunk
from invoices.models import BillingRunChunk, ChunkStatus, Invoice, InvoiceType, NumberSeries
from invoices.services.billing_run import billing_run_start, run_chunk, stale_chunks
from tests.customers.factories import CustomerFactory
from tests.invoices.factories import SYSTEM, usage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]

SGT = ZoneInfo("Asia/Singapore")
IN_FEB = dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT)


def database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def start_worker() -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.CELERY_BROKER_URL}
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
                             "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                            cwd=settings.BASE_DIR, env=env, start_new_session=True)


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def waiting_on_the_series(conn) -> bool:
    """A backend (the worker's) blocked on a lock in the chunk's numbering statement."""
    row = conn.execute("""SELECT count(*) FROM pg_stat_activity
                           WHERE datname = current_database() AND wait_event_type = 'Lock'
                             AND query LIKE '%%invoices_numberseries%%'""").fetchone()
    return row[0] > 0


def test_a_worker_killed_in_the_middle_of_a_chunk_bills_no_one_and_the_next_run_finishes():
    from config.celery import app

    app.control.purge()
    customers = []
    for i in range(6):
        c = CustomerFactory(code=f"K{i}", billing_email=f"k{i}@example.com")
        usage(c, "4", at=IN_FEB)
        customers.append(c)
    NumberSeries.objects.create(key="INV-2026", last_value=41)
    run = billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, chunk_size=10)
    chunk = run.chunks.get()

    # Hold the series row from another connection: the worker's chunk does every insert, then blocks on the
    # numbering statement, its last step before COMMIT. Kill it there.
    holder = psycopg.connect(database_url())
    holder.execute("SELECT 1 FROM invoices_numberseries WHERE key = 'INV-2026' FOR UPDATE")
    watcher = psycopg.connect(database_url(), autocommit=True)
    worker = start_worker()
    try:
        bill_billing_chunk.delay(chunk.pk)
        wait_for(lambda: waiting_on_the_series(watcher), what="the chunk to reach its numbering")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        holder.rollback()
        holder.close()
    # the killed worker's backend finds its client gone and rolls the chunk back
    wait_for(lambda: not waiting_on_the_series(watcher), what="the killed worker's transaction to end")
    wait_for(lambda: watcher.execute("""SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                                        AND state LIKE 'idle in transaction%%'""").fetchone()[0] == 0,
             what="no transaction left open")
    watcher.close()

    assert not Invoice.objects.filter(type=InvoiceType.MONTHLY).exists()  # not at all
    assert NumberSeries.objects.get(key="INV-2026").last_value == 41  # the numbers are given back
    assert ledger_mismatches() == [] and money_in_mismatches() == []
    assert BillingRunChunk.objects.get(pk=chunk.pk).status == ChunkStatus.RUNNING  # claimed by the dead worker

    # the next run (day 2) finds the six customers still to bill and bills them, once
    day2 = billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, chunk_size=4)
    assert day2.customers_total == 6
    for pk in day2.chunks.values_list("pk", flat=True):
        run_chunk(pk, actor=SYSTEM, cash_source=PAYMENT_CASH, send_email=False)
    numbers = sorted(Invoice.objects.filter(type=InvoiceType.MONTHLY).values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(42, 48)]  # gapless from where the series stood
    assert sorted(Invoice.objects.values_list("customer_id", flat=True)) == sorted(c.pk for c in customers)

    # the dead worker's chunk, handed out again once its claim is stale, bills no one twice
    later = run.started_at + dt.timedelta(hours=1)
    assert chunk.pk in stale_chunks(at=later)
    BillingRunChunk.objects.filter(pk=chunk.pk).update(claimed_at=later - dt.timedelta(hours=2))
    again = run_chunk(chunk.pk, actor=SYSTEM, cash_source=PAYMENT_CASH, send_email=False)
    assert again == {"chunk": chunk.pk, "invoiced": 0, "nothing_to_bill": 6, "failed": 0}
    assert Invoice.objects.filter(type=InvoiceType.MONTHLY).count() == 6
    assert ledger_mismatches() == [] and money_in_mismatches() == []
    app.control.purge()
