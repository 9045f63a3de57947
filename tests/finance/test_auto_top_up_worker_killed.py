"""A real Celery worker process killed with SIGKILL in the middle of a chunk of the daily auto top-up: every
customer is topped up once or not at all, and the chunk's redelivery finishes the run.

The worker is a separate `celery worker` process (prefork, one pool process) on the test database and the
test Redis. The pool process that runs the chunk is SIGKILLed once some of the chunk's customers are topped
up: PostgreSQL rolls back the transaction it had open, its session advisory lock on the chunk goes with its
connection, and the worker's main process gives the task back to the broker (acks_late,
reject_on_worker_lost), so a new pool process takes the chunk again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db.models import Count

from customers.selectors import ledger_mismatches
from finance.models import (
    AutoTopUp,
    AutoTopUpChunk,
    AutoTopUpChunkStatus,
    AutoTopUpRun,
    TopUpDecision,
    TopUpMethod,
)
from finance.tasks import daily_auto_top_up
from tests.finance.auto_top_up_support import RUN_DATE, at_six, customer_with, transfers, wallet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]
REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 120
TRIGGER = Decimal("10")
TIMEOUT = 180


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_process():
    """`celery worker -P prefork -c 1` on the test database; stopped (and its queue purged) afterwards."""
    from config.celery import app

    app.conf.task_always_eager = False
    app.control.purge()
    env = {**os.environ, "DATABASE_URL": _database_url(), "DATABASE_CONN_MAX_AGE": "0", "LOG_LEVEL": "ERROR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork", "-c", "1",
         "-n", f"killed-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-l", "ERROR"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=1.0):
            assert proc.poll() is None and time.monotonic() < deadline, "the worker did not start"
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        app.control.purge()


def _pool_process(main_pid: int) -> int:
    children = subprocess.run(["pgrep", "-P", str(main_pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 1, f"expected one pool process, found {children}"
    return int(children[0])


def test_a_worker_process_killed_mid_chunk_tops_up_each_customer_once_and_the_redelivery_finishes_the_run(
        worker_process):
    master = wallet("100000")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger=TRIGGER, threshold="50")
                 for _ in range(CUSTOMERS)]
    with time_machine.travel(at_six(), tick=True):
        answer = daily_auto_top_up.delay(RUN_DATE.isoformat()).get(timeout=TIMEOUT)
    assert answer["chunks"] == 1 and answer["candidates"] == CUSTOMERS
    run_id = answer["run"]
    # The worker's clock is the real one (the run's date was given): kill it once the chunk is under way.
    deadline = time.monotonic() + TIMEOUT
    while (done := AutoTopUp.objects.filter(run_date=RUN_DATE).count()) < 10:
        assert time.monotonic() < deadline, "the chunk did not start"
        time.sleep(0.02)
    victim = _pool_process(worker_process.pid)
    os.kill(victim, signal.SIGKILL)
    killed_at = AutoTopUp.objects.filter(run_date=RUN_DATE).count()
    assert 10 <= done <= killed_at < CUSTOMERS, "killed too late to prove anything: make the chunk bigger"

    while (run := AutoTopUpRun.objects.get(pk=run_id)).finished_at is None:
        assert time.monotonic() < deadline, "the redelivered chunk did not finish the run"
        time.sleep(0.2)
    assert _pool_process(worker_process.pid) != victim  # a new pool process took the chunk again
    (chunk,) = AutoTopUpChunk.objects.filter(run_id=run_id)
    assert chunk.status == AutoTopUpChunkStatus.DONE and chunk.attempts == 2
    assert (run.fired_count, run.failed_count, run.skipped_count) == (CUSTOMERS, 0, 0)
    assert set(run.decisions.values_list("decision", flat=True)) == {TopUpDecision.FIRED}
    per_customer = (AutoTopUp.objects.filter(run_date=RUN_DATE).values("customer_id").annotate(n=Count("id"))
                    .values_list("n", flat=True))
    assert len(per_customer) == CUSTOMERS and set(per_customer) == {1}
    assert all(transfers(c) == TRIGGER for c in customers)  # the killed transaction's transfer rolled back
    master.refresh_from_db()
    assert master.balance == Decimal("100000") - CUSTOMERS * TRIGGER
    assert ledger_mismatches() == []
