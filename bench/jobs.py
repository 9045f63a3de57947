"""Bench 3, the scheduled jobs over the full data set: the daily auto top-up over 100,000 customers with 10%
at or below their threshold, and the monthly billing run over 100,000 customers (the last generated month,
which bench/generate.py leaves unbilled).

Each job runs on a fresh copy of the bench database (CREATE DATABASE ... TEMPLATE), so the generated data
stays as it was and the bench can be run again. The jobs run as the management commands run them (one
process), through the real services; the billing run can also be measured split over N processes in chunks
of 500 customers, as the Celery beat task hands it to the workers (--billing-processes 1,2). Emails are queued to Celery (Redis db 7 by
default; purged afterwards), as in production: rendering PDFs is the workers' job, not the run's.

Baseline, in the same run and database: the floor cost of "each customer in its own short transaction"
(BEGIN; lock the customer row; insert one row; COMMIT) for as many customers as the job handled one by one.

    python -m bench.jobs [--keep] [--skip-auto-top-up] [--skip-billing] [--auto-top-up-workers 0,1,2] [--billing-processes 1,2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from urllib.parse import urlparse

from bench._common import REPO, Table, bench_env, database_url, fmt, machine_line, ratio, say

CLONE = "ledgerdesk_bench_jobs"
SHARE_DUE = 0.10


def server_url(name: str) -> str:
    return urlparse(database_url())._replace(path=f"/{name}").geturl()


def clone(name: str) -> float:
    """A fresh copy of the bench database; returns the seconds it took."""
    import psycopg

    template = urlparse(database_url()).path.lstrip("/")
    started = time.perf_counter()
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return time.perf_counter() - started


def drop(name: str) -> None:
    import psycopg

    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def in_clone(task: str, name: str, *extra: str) -> dict:
    """Run `task` of this module in a subprocess whose Django uses the clone; returns its JSON answer."""
    env = bench_env()
    env["DATABASE_URL"] = env["BENCH_DATABASE_URL"] = server_url(name)
    out = subprocess.run([sys.executable, "-m", "bench.jobs", "--task", task, *extra], env=env, cwd=REPO,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- tasks run inside a clone -----------------------------------------------------------------------------
def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _purge_celery() -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def floor(count: int) -> float:
    """Seconds for `count` short transactions, each locking one customer row and inserting one row."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_floor (customer_id bigint, at timestamptz)")
        cursor.execute("SELECT id FROM customers_customer ORDER BY id LIMIT %s", [count])
        ids = [r[0] for r in cursor.fetchall()]
    started = time.perf_counter()
    for i in range(count):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM customers_customer WHERE id = %s FOR UPDATE", [ids[i % len(ids)]])
            cursor.execute("INSERT INTO bench_floor VALUES (%s, now())", [ids[i % len(ids)]])
    return time.perf_counter() - started


PREPARE_AUTO_TOP_UP = """
-- every customer gets auto top-up on (cheque/TT or master account: the card method needs Stripe; the
-- finance bench bench/auto_top_up.py covers it against the fake Stripe), trigger 100; one customer in ten
-- (id % 10 = 3) has its threshold at or above its usable credits, the others below them.
INSERT INTO finance_paymentsettings (customer_id, method, trigger_amount, limit_threshold, auto_top_up_enabled,
                                     updated_at, updated_by)
SELECT c.id, 'cheque_tt', NULL, NULL, false, now(), 'bench'
  FROM customers_customer c
 WHERE NOT EXISTS (SELECT 1 FROM finance_paymentsettings s WHERE s.customer_id = c.id);
UPDATE finance_paymentsettings s
   SET auto_top_up_enabled = true,
       method = CASE WHEN s.method = 'card' THEN 'cheque_tt' ELSE s.method END,
       trigger_amount = 100,
       limit_threshold = CASE WHEN c.id % 10 = 3
                              THEN GREATEST(u.usable, 0) + 10
                              ELSE GREATEST(u.usable - 10, 0.01) END
  FROM customers_customer c,
       LATERAL (SELECT c.usable_credits AS usable) u
 WHERE c.id = s.customer_id;
"""


AUTO_TOP_UP_QUEUE = "bench_auto_top_up"  # the chunks only: the emails the run queues stay unconsumed (purged)


def _start_workers(processes: int) -> subprocess.Popen:
    """One Celery worker node with `processes` prefork processes on the chunk queue, ready when it answers a
    ping (started before the clock, as production's workers are)."""
    from config.celery import app

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork", "-c", str(processes),
         "-Q", AUTO_TOP_UP_QUEUE, "-n", f"bench-atu-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "WARNING"], cwd=REPO, env=dict(os.environ),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not app.control.ping(timeout=1.0):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the bench's Celery worker did not start")
    return worker


def task_auto_top_up(workers: int) -> dict:
    """`workers` 0: the run in this process (manage.py auto_top_up); N: the run begun here, its chunks handled
    by N Celery worker processes (as the beat task hands them out), timed until the last chunk finishes it."""
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from audit.actors import Actor
    from finance.models import AutoTopUpDecision, AutoTopUpRun, AutoTopUpTrigger
    from finance.services.auto_top_up import auto_top_up_run_begin, run_daily_auto_top_up
    from finance.tasks import auto_top_up_chunk

    with connection.cursor() as cursor:
        cursor.execute(PREPARE_AUTO_TOP_UP)
        cursor.execute("ANALYZE finance_paymentsettings")
        cursor.execute("""SELECT count(*), count(*) FILTER (WHERE c.usable_credits <= s.limit_threshold)
                          FROM finance_paymentsettings s JOIN customers_customer c ON c.id = s.customer_id
                          WHERE s.auto_top_up_enabled""")
        enabled, due = cursor.fetchone()
    connection.close()
    actor, day = Actor.system("bench auto top-up"), timezone.localdate()
    _purge_celery()
    worker = _start_workers(workers) if workers else None
    try:
        started = time.perf_counter()
        if worker is None:
            run = run_daily_auto_top_up(run_date=day, actor=actor, trigger=AutoTopUpTrigger.COMMAND,
                                        email_via_celery=True)
            begin_seconds = float("nan")
        else:
            begun = auto_top_up_run_begin(run_date=day, actor=actor, trigger=AutoTopUpTrigger.COMMAND)
            begin_seconds = time.perf_counter() - started
            for chunk_id in begun.chunk_ids:
                auto_top_up_chunk.apply_async(args=[chunk_id], queue=AUTO_TOP_UP_QUEUE)
            while (run := AutoTopUpRun.objects.get(pk=begun.run.pk)).finished_at is None:
                time.sleep(0.1)
        seconds = time.perf_counter() - started
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
    decisions = dict(AutoTopUpDecision.objects.filter(run=run).values("decision").annotate(n=Count("id"))
                     .order_by().values_list("decision", "n"))
    chunk_seconds = list(run.chunks.values_list("claimed_at", "finished_at"))
    busy = sum((f - c).total_seconds() for c, f in chunk_seconds if c and f)
    _purge_celery()
    handled = run.fired_count + run.failed_count
    return {"seconds": seconds, "begin_seconds": begin_seconds, "chunks": len(chunk_seconds),
            "chunk_busy_seconds": busy, "workers": workers, "enabled": enabled, "due": due,
            "customers": run.customers_count, "fired": run.fired_count, "failed": run.failed_count,
            "skipped": run.skipped_count, "decisions": decisions, "floor_seconds": floor(handled),
            "floor_count": handled}


def _bill(period: str, ids: list[int]) -> None:
    from django.db import connection

    from audit.actors import Actor
    from finance.services.billing import PAYMENT_CASH
    from invoices.services.billing import monthly_billing_run

    try:
        result = monthly_billing_run(period=period, customer_ids=ids, actor=Actor.system("bench billing run"),
                                     cash_source=PAYMENT_CASH)
        if result.failed:
            raise SystemExit(f"{len(result.failed)} customers failed: {result.failed[:3]}")
    finally:
        connection.close()


def task_billing(processes: int) -> dict:
    from django.db import connection, connections
    from django.utils import timezone

    from customers.models import Customer, Transaction
    from invoices.models import Invoice, InvoiceType
    from invoices.selectors import billing_candidates
    from invoices.services.billing import parse_period, previous_period

    period = previous_period(timezone.now())
    before_invoices = Invoice.objects.filter(type=InvoiceType.MONTHLY).count()
    before_billed = Transaction.objects.filter(billed_at__isnull=False).count()
    started = time.perf_counter()
    candidates = billing_candidates(parse_period(period))
    chunks = [candidates[i:i + 500] for i in range(0, len(candidates), 500)]
    connections.close_all()
    if processes == 1:
        _bill(f"{period:%Y-%m}", candidates)
    else:
        ctx = mp.get_context("fork")
        with ctx.Pool(processes) as pool:  # chunks of 500, as the beat task hands them to the workers
            pool.starmap(_bill, [(f"{period:%Y-%m}", chunk) for chunk in chunks], chunksize=1)
    seconds = time.perf_counter() - started
    invoiced = Invoice.objects.filter(type=InvoiceType.MONTHLY).count() - before_invoices
    billed = Transaction.objects.filter(billed_at__isnull=False).count() - before_billed
    customers = Customer.objects.count()
    _purge_celery()
    result = {"seconds": seconds, "period": f"{period:%Y-%m}", "customers": customers,
              "candidates": len(candidates), "invoiced": invoiced, "entries_billed": billed}
    if processes == 1:
        result.update(floor_seconds=floor(invoiced), floor_count=invoiced)
    connection.close()
    return result


def task_billing_alternate(per_run: int) -> dict:
    """1 and 2 worker processes measured in turns (1, 2, 1, 2) on one copy, each turn a run over the next
    `per_run` candidates: on a machine other people load, the turns see about the same load, so their
    ratio means more than two long runs minutes apart."""
    from django.db import connection
    from django.utils import timezone

    from invoices.selectors import billing_candidates
    from invoices.services.billing import previous_period

    period = previous_period(timezone.now())
    candidates = billing_candidates(period)
    connection.close()
    turns = []
    for n, workers in enumerate([1, 2, 1, 2]):
        ids = candidates[n * per_run:(n + 1) * per_run]
        turns.append(task_billing_workers(workers, customer_ids=ids))
    return {"turns": turns}


def task_billing_workers(workers: int, customer_ids: list[int] | None = None) -> dict:
    """The run as production runs it: a real Celery worker (prefork, `workers` processes) on the bench Redis
    claims the chunks of a BillingRun (finance.tasks.billing_run_start hands them out); wall time from the
    start (candidates found, chunks written and queued) until the run is finished. The invoice emails are
    queued per chunk to a queue this worker does not consume (bench/billing_worker.py) and purged."""
    import signal

    from django.db import connection
    from django.db.models import Count, Sum
    from django.utils import timezone

    from config.celery import app
    from customers.models import Transaction
    from finance import tasks
    from invoices.models import BillingRun, Invoice, InvoiceType
    from invoices.services.billing import previous_period
    from invoices.services.billing_run import run_progress

    _purge_celery()
    period = previous_period(timezone.now())
    before_invoices = Invoice.objects.filter(type=InvoiceType.MONTHLY).count()
    before_billed = Transaction.objects.filter(billed_at__isnull=False).count()
    connection.close()
    worker = subprocess.Popen([sys.executable, "-m", "bench.billing_worker", "--concurrency", str(workers)],
                              cwd=REPO, env=dict(os.environ), start_new_session=True)
    try:
        for _ in range(120):
            if app.control.ping(timeout=0.5):
                break
        else:
            raise SystemExit("the bench's Celery worker did not answer")
        load_before = os.getloadavg()
        started = time.perf_counter()
        if customer_ids is None:
            answer = tasks.billing_run_start(period=f"{period:%Y-%m}", trigger="command")
            run = BillingRun.objects.get(pk=answer["run"])
        else:
            from audit.actors import Actor
            from invoices.services.billing_run import billing_run_start

            run = billing_run_start(period=period, trigger="command", actor=Actor.system("bench"),
                                    customer_ids=customer_ids)
            for chunk_id in run.chunks.values_list("pk", flat=True):
                tasks.bill_billing_chunk.delay(chunk_id)
        while run.finished_at is None:
            time.sleep(0.5)
            run.refresh_from_db()
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        # a worker still shutting down would take the next run's first messages (its chunks are another
        # database's ids there: skipped, and lost until the resume task hands them out again)
        while app.control.ping(timeout=0.5):
            time.sleep(0.5)
    progress = run_progress(run)
    chunks = run.chunks.aggregate(n=Count("id"), busy=Sum("seconds"), serial=Sum("serial_seconds"),
                                  wait=Sum("wait_seconds"))
    invoiced = Invoice.objects.filter(type=InvoiceType.MONTHLY).count() - before_invoices
    billed = Transaction.objects.filter(billed_at__isnull=False).count() - before_billed
    from customers.models import Customer

    customers = Customer.objects.count()
    _purge_celery()
    connection.close()
    return {"seconds": seconds, "period": f"{period:%Y-%m}", "customers": customers, "workers": workers,
            "candidates": run.customers_total, "invoiced": invoiced, "entries_billed": billed,
            "failed": progress["failed"], "chunks": chunks["n"], "chunk_seconds": chunks["busy"],
            "serial_seconds": chunks["serial"], "wait_seconds": chunks["wait"],
            "load_before": load_before, "load_after": load_after}


# --- the orchestration -------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the copies of the database")
    parser.add_argument("--skip-auto-top-up", action="store_true")
    parser.add_argument("--skip-billing", action="store_true")
    parser.add_argument("--auto-top-up-workers", default="2",
                        help="comma-separated Celery worker process counts for the auto top-up, e.g. 0,1,2 (0: the "
                             "run in one process, as manage.py auto_top_up runs it; default 2)")
    parser.add_argument("--billing-processes", default="1",
                        help="comma-separated process counts for the billing run, e.g. 1,2 (default 1: a full run "
                             "takes about 12 minutes on 2 cores)")
    parser.add_argument("--billing-workers", default="",
                        help="comma-separated Celery worker process counts for the billing run as the workers run "
                             "it (BillingRun chunks), e.g. 1,2")
    parser.add_argument("--billing-alternate", type=int, default=0, metavar="N",
                        help="1 and 2 Celery worker processes in turns (1, 2, 1, 2), each turn a run over the next N "
                             "candidates, on one copy")
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--arg", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        _setup()
        answer = {"auto_top_up": task_auto_top_up, "billing": task_billing,
                  "billing_workers": task_billing_workers,
                  "billing_alternate": task_billing_alternate}[args.task](args.arg)
        print(json.dumps(answer, default=str))
        return

    os.environ.update(bench_env())
    machine = machine_line()
    table = Table(title="Scheduled jobs over the full data set (each on a fresh copy of the bench database)",
                  columns=["job", "customers", "handled one by one", "wall s", "customers/s", "rows/s",
                           "floor s (same count)", "job / floor"])
    notes = [machine]
    names = []
    try:
        if not args.skip_auto_top_up:
            for workers in [int(w) for w in args.auto_top_up_workers.split(",")]:
                name = f"{CLONE}_atu{workers}"
                names.append(name)
                how = f"{workers} worker process(es)" if workers else "in one process"
                say(f"copying the bench database ({clone(name):.0f} s); daily auto top-up, {how}")
                r = in_clone("auto_top_up", name, "--arg", str(workers))
                handled = r["fired"] + r["failed"]
                table.add(f"daily auto top-up ({how})", r["customers"], handled, r["seconds"],
                          r["customers"] / r["seconds"], f"{fmt(handled / r['seconds'])} top-ups/s", r["floor_seconds"],
                          ratio(r["seconds"], r["floor_seconds"]))
                notes.append(f"Auto top-up, {how}: {r['enabled']:,} customers with auto top-up on, {r['due']:,} at or "
                             f"below their threshold; {r['fired']:,} topped up (a top-up invoice issued and sent, or a "
                             f"master-account transfer), {r['failed']:,} failed, {r['skipped']:,} skipped by the one "
                             f"set-based statement. Serial start (settle + classify + chunks): "
                             f"{fmt(r['begin_seconds'])} s; {r['chunks']} chunks, {fmt(r['chunk_busy_seconds'])} s of "
                             f"chunk work in all. Decisions: {r['decisions']}.")
        if not args.skip_billing:
            for processes in [int(p) for p in args.billing_processes.split(",")]:
                name = f"{CLONE}_bill{processes}"
                names.append(name)
                say(f"copying the bench database ({clone(name):.0f} s); monthly billing run, {processes} process(es)")
                r = in_clone("billing", name, "--arg", str(processes))
                table.add(f"monthly billing run {r['period']} ({processes} process{'es' if processes > 1 else ''})",
                          r["customers"], r["invoiced"], r["seconds"], r["customers"] / r["seconds"],
                          f"{fmt(r['invoiced'] / r['seconds'])} invoices/s, "
                          f"{fmt(r['entries_billed'] / r['seconds'], 0)} entries/s",
                          r.get("floor_seconds", float("nan")),
                          ratio(r["seconds"], r["floor_seconds"]) if "floor_seconds" in r else "")
                if len(notes) < 3:
                    notes.append(f"Billing run {r['period']}: {r['candidates']:,} candidates (one query), "
                                 f"{r['invoiced']:,} monthly invoices issued, {r['entries_billed']:,} ledger entries "
                                 "billed (each linked to its invoice line), credit applied, emails queued.")
        for workers in [int(w) for w in args.billing_workers.split(",") if w]:
            name = f"{CLONE}_workers{workers}"
            names.append(name)
            say(f"copying the bench database ({clone(name):.0f} s); monthly billing run, Celery, {workers} worker "
                "process(es)")
            r = in_clone("billing_workers", name, "--arg", str(workers))
            say(json.dumps(r))
            table.add(f"monthly billing run {r['period']} (Celery, {workers} worker process{'es' if workers > 1 else ''})",
                      r["customers"], r["invoiced"], r["seconds"], r["customers"] / r["seconds"],
                      f"{fmt(r['invoiced'] / r['seconds'])} invoices/s, "
                      f"{fmt(r['entries_billed'] / r['seconds'], 0)} entries/s", float("nan"), "")
            notes.append(f"Celery, {workers} worker process(es): {r['chunks']} chunks, {r['failed']} failed; chunk "
                         f"time summed {r['chunk_seconds']:.1f} s, of which one chunk at a time (series row held to "
                         f"COMMIT) {r['serial_seconds']:.1f} s, waiting for it {r['wait_seconds']:.1f} s; load "
                         f"average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f}.")
        if args.billing_alternate:
            name = f"{CLONE}_alternate"
            names.append(name)
            say(f"copying the bench database ({clone(name):.0f} s); billing runs of {args.billing_alternate:,} "
                "candidates, 1 and 2 Celery worker processes in turns")
            answer = in_clone("billing_alternate", name, "--arg", str(args.billing_alternate))
            for r in answer["turns"]:
                say(json.dumps(r))
                table.add(f"billing run turn, {r['candidates']:,} candidates (Celery, {r['workers']} worker "
                          f"process{'es' if r['workers'] > 1 else ''})", r["customers"], r["invoiced"], r["seconds"],
                          r["candidates"] / r["seconds"], f"{fmt(r['invoiced'] / r['seconds'])} invoices/s",
                          float("nan"), "")
                notes.append(f"Turn, {r['workers']} worker process(es): {r['chunks']} chunks; chunk time summed "
                             f"{r['chunk_seconds']:.1f} s, one chunk at a time {r['serial_seconds']:.1f} s, waiting "
                             f"for it {r['wait_seconds']:.1f} s; load average before {r['load_before'][0]:.2f}, "
                             f"after {r['load_after'][0]:.2f}.")
    finally:
        if not args.keep:
            for name in names:
                drop(name)
    notes += [
        "customers/s: customers of the data set over the wall time of the whole run (candidates found by one "
        "statement, then each handled customer in its own short transaction with its audit event).",
        "Floor: the same number of minimal transactions (BEGIN; SELECT the customer FOR UPDATE; INSERT one row; "
        "COMMIT) from one process: what any design with one transaction per customer pays at least.",
    ]
    table.notes = notes
    table.emit("jobs")


if __name__ == "__main__":
    main()
