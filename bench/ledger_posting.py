"""Bench 1, ledger posting: charges posted through the real service path, against pgbench in the same run.

One operation = what the telephony platform does for one call: `reservation_reserve` (hold 1.00) then
`reservation_commit` (post the final 0.75 charge, release the rest): two service transactions, each with
its row locks, F() updates and its one audit event, exactly as the API calls them. N processes (1, 4, 8)
run operations for a fixed time:
  - on distinct customers (one customer per process: the normal case, many accounts in flight), and
  - on one shared hot customer (every process on the same account: its row lock serialises them),
and pgbench's TPC-B-like script runs on the same database with the same -c/-j for the same time.

    python -m bench.ledger_posting [--clients 1,4,8] [--seconds 20]

Target (issue 9): ledger ops/s >= 0.5 x pgbench tps at 8 clients.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import subprocess
import tempfile
import time
from decimal import Decimal

from bench._common import (
    Table,
    find_binary,
    machine_line,
    median,
    percentile,
    pg_args,
    pg_env,
    ratio,
    say,
    setup_django,
)

PGBENCH_SCALE = 10
CODE_PREFIX = "BENCH-POST-"
HOT_CODE = "BENCH-HOT"
RESERVE = Decimal("1.00")
FINAL = Decimal("0.75")

# pgbench with one global row lock held to commit: every transaction takes branch 1's row first. The shape
# every audited service had while the audit trail was one chain (one head row locked by every audited commit
# until it committed); since audit migration 0004 a commit locks one of 64 chain heads.
SERIAL_SCRIPT = """\\set aid random(1, 100000 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
SELECT bid FROM pgbench_branches WHERE bid = 1 FOR UPDATE;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
END;
"""


# The same two calls as one ledger op, straight from pgbench (no Python, no Django): what the database alone
# does per op, to tell the database's share of an op from the client's. Client n posts on the n-th distinct
# bench customer (their ids are consecutive: made one after another by bench_customers).
FUNCTIONS_SCRIPT = """\\set cid {first_id} + :client_id
SELECT (o.reservation).id AS rid FROM customers_reservation_reserve(:cid, 'call', {reserve}, 'bench call', NULL, \
now(), now() + interval '1 hour', 'system', 'bench pgbench', NULL, '', NULL::inet, '') o \\gset
SELECT o.outcome FROM customers_reservation_resolve(:rid, 'committed', {final}, '', '', now(), 'system', \
'bench pgbench', NULL, '', NULL::inet, '') o;
"""


# --- pgbench -----------------------------------------------------------------------------------------------
def pgbench_binary() -> str:
    found = find_binary("pgbench")
    if not found:
        raise SystemExit("pgbench not found: install postgresql-client (Debian: apt-get install postgresql-client) "
                         "or the pgserver wheel.")
    return found


def pgbench_init(binary: str) -> None:
    """pgbench's tables at scale 10, in the bench database, once."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pgbench_branches') IS NOT NULL")
        exists = cursor.fetchone()[0]
        scale = 0
        if exists:
            cursor.execute("SELECT count(*) FROM pgbench_branches")
            scale = cursor.fetchone()[0]
    connection.close()
    if scale == PGBENCH_SCALE:
        return
    say(f"initialising pgbench tables at scale {PGBENCH_SCALE}")
    subprocess.run([binary, "-i", "-q", "-s", str(PGBENCH_SCALE), *pg_args()], env=pg_env(), check=True,
                   capture_output=True)


def pgbench_run(binary: str, clients: int, seconds: int, script: str | None = None) -> float:
    """Run pgbench; return its tps (without initial connection time)."""
    cmd = [binary, "-n", "-c", str(clients), "-j", str(clients), "-T", str(seconds)]
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as handle:
        if script is None:
            cmd += ["-b", "tpcb-like"]
        else:
            handle.write(script)
            handle.flush()
            cmd += ["-f", handle.name]
        out = subprocess.run([*cmd, *pg_args()], env=pg_env(), check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if not match:
        raise SystemExit(f"could not read pgbench's tps from:\n{out}")
    return float(match[1])


# --- the service path -------------------------------------------------------------------------------------
def bench_customers(count: int) -> tuple[list[int], int]:
    """Postpaid customers with a credit limit no bench can spend (the largest allowed, 13 million operations;
    never invoiced), made by the service."""
    from audit.actors import Actor
    from customers.models import AccountType, Customer, InvoiceSetup
    from customers.money import max_credit_limit
    from customers.services import customer_create

    actor = Actor.system("bench")
    wanted = [f"{CODE_PREFIX}{i:02d}" for i in range(1, count + 1)] + [HOT_CODE]
    existing = dict(Customer.objects.filter(code__in=wanted).values_list("code", "pk"))
    for code in wanted:
        if code not in existing:
            existing[code] = customer_create(
                name=f"Bench posting {code}", code=code, billing_email=f"{code.lower()}@bench.example",
                account_type=AccountType.POSTPAID, invoice_setup=InvoiceSetup.NONE, credit_limit=max_credit_limit(),
                actor=actor).pk
    return [existing[c] for c in wanted[:-1]], existing[HOT_CODE]


def one_operation(customer_id: int, actor) -> None:
    from django.utils import timezone

    from customers.services import reservation_commit, reservation_reserve

    reservation = reservation_reserve(customer_id=customer_id, amount=RESERVE, actor=actor, at=timezone.now(),
                                      reference="bench call")
    reservation_commit(reservation_id=reservation.pk, amount=FINAL, actor=actor, at=timezone.now())


def _worker(customer_id: int, start_at: float, stop_at: float, results) -> None:
    """A process posting operations on one customer; counts those that end inside [start_at, stop_at)."""
    from django.db import connection

    from audit.actors import Actor

    actor = Actor.system("bench ledger posting")
    latencies: list[float] = []
    done = 0
    try:
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            one_operation(customer_id, actor)
            ended = time.perf_counter()
            if start_at <= began and ended < stop_at:
                done += 1
                latencies.append(ended - began)
    finally:
        connection.close()
    results.put((done, latencies))


def run_processes(customer_ids: list[int], seconds: int, warmup: float = 2.0) -> tuple[float, list[float]]:
    """One process per entry of customer_ids (repeat an id for a shared customer); returns (ops/s, latencies)."""
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    procs = [ctx.Process(target=_worker, args=(cid, start_at, stop_at, results)) for cid in customer_ids]
    for p in procs:
        p.start()
    gathered = [results.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a bench process failed (exit {p.exitcode})")
    ops = sum(done for done, _ in gathered)
    latencies = [x for _, lat in gathered for x in lat]
    return ops / seconds, latencies


def statements_per_operation(customer_id: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.actors import Actor

    with CaptureQueriesContext(connection) as ctx:
        one_operation(customer_id, Actor.system("bench ledger posting"))
    return len(ctx.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,8", help="comma-separated client counts (default 1,4,8)")
    parser.add_argument("--seconds", type=int, default=20, help="measured seconds per run (default 20)")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    setup_django()
    machine = machine_line()
    binary = pgbench_binary()
    pgbench_init(binary)
    distinct_ids, hot_id = bench_customers(max(clients))
    statements = statements_per_operation(distinct_ids[0])

    table = Table(
        title="Ledger posting: reserve + commit through the services vs pgbench TPC-B-like (same database, same run)",
        columns=["clients", "pgbench tps", "ledger ops/s (distinct customers)", "ratio to pgbench",
                 "op p50 ms", "op p95 ms", "ledger ops/s (one hot customer)", "hot ratio",
                 "pgbench + 1 global row lock tps", "the 2 functions from pgbench, ops/s", "their ratio"],
    )
    consecutive = distinct_ids == list(range(distinct_ids[0], distinct_ids[0] + len(distinct_ids)))
    functions_script = FUNCTIONS_SCRIPT.format(first_id=distinct_ids[0], reserve=RESERVE, final=FINAL)
    for n in clients:
        say(f"{n} client(s): pgbench tpcb-like")
        tps = pgbench_run(binary, n, args.seconds)
        say(f"{n} client(s): pgbench with one global row lock")
        serial_tps = pgbench_run(binary, n, args.seconds, script=SERIAL_SCRIPT)
        say(f"{n} client(s): ledger, distinct customers")
        ops, lat = run_processes(distinct_ids[:n], args.seconds)
        say(f"{n} client(s): ledger, one hot customer")
        hot_ops, _ = run_processes([hot_id] * n, args.seconds)
        functions_ops = None
        if consecutive:
            say(f"{n} client(s): the two functions from pgbench")
            functions_ops = pgbench_run(binary, n, args.seconds, script=functions_script)
        table.add(str(n), tps, ops, ratio(ops, tps), median(lat) * 1000, percentile(lat, 95) * 1000, hot_ops,
                  ratio(hot_ops, tps), serial_tps, functions_ops if functions_ops is not None else "-",
                  ratio(functions_ops, tps) if functions_ops is not None else "-")

    from django.db import connection

    connection.close()
    table.notes = [
        machine,
        f"{args.seconds} s measured per cell after a 2 s warm-up; processes fork from one parent, one database "
        "connection each.",
        f"One ledger op = reservation_reserve ({RESERVE}) + reservation_commit ({FINAL} charge): 2 transactions, "
        f"{statements} SQL statements (BEGIN/COMMIT/savepoints included), 2 audit events. One pgbench transaction "
        "= 5 statements (TPC-B-like, scale 10).",
        "Target (issue 9): ratio >= 0.5 at 8 clients.",
        "pgbench + 1 global row lock: pgbench's one-UPDATE transaction after taking one shared row lock (branch 1) "
        "FOR UPDATE: "
        "the ceiling of any design in which every commit holds one row lock until its WAL flush, as every "
        "audited service held the single audit chain head before it became 64 chains (audit migration 0004).",
        "Last two columns: customers_reservation_reserve + customers_reservation_resolve called by pgbench on the "
        "same distinct customers (no Python, no Django): the database's own cost of a ledger op; the gap to the "
        "service path is the client's (Python, psycopg, the round trips) on the same 2 cores."
        + ("" if consecutive else " Not measured: the bench customers' ids are not consecutive."),
    ]
    table.emit("ledger_posting")


if __name__ == "__main__":
    main()
