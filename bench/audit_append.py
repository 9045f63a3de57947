"""Bench: what writing a money change's audit event costs under concurrency (issue 24).

Each transaction is the shape of every audited service: one money change under its row lock (an UPDATE of an
account row) and its one audit event (an INSERT into audit_auditevent, through the table's real triggers),
then COMMIT. pgbench runs it (no Python, no Django: the database's own cost) from 1 and 8 clients for a fixed
time, in three variants measured in the same run:
  - the money change alone (no audit event): the baseline;
  - with its event about one of 10,000 customers (spread over the trail's 64 chains);
  - with its event about no customer (every event in chain 0: staff settings, sign-ins, jobs' own events).
When the trail is sealed by a beat task (`audit_seal`), the bench then seals everything the run appended and
reports how fast the sealer goes.

    python -m bench.audit_append [--clients 1,8] [--seconds 10]

It makes its own table (bench_account, 10,000 rows) in BENCH_DATABASE_URL, which must be migrated.
"""

from __future__ import annotations

import argparse
import time

from bench._common import Table, machine_line, ratio, say, setup_django
from bench.ledger_posting import pgbench_binary, pgbench_run

ACCOUNTS = 10_000

MONEY = """\\set aid random(1, {accounts})
BEGIN;
UPDATE bench_account SET balance = balance + 1.250000 WHERE id = :aid;
{audit}END;
"""

EVENT = (
    "INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_label, actor_user_id, app, action, "
    "object_type, object_id, object_repr, customer_id, before, after, reason, request_id, ip, user_agent) "
    "VALUES (now(), 'system', 'bench', NULL, 'finance', 'finance.bench.change', 'bench.account', :aid, "
    "'Account ' || :aid, {customer}, '{{\"balance\": \"1.000000\"}}', '{{\"balance\": \"2.250000\"}}', '', "
    "'', NULL, '');\n"
)

VARIANTS = [
    ("money change alone (no audit event)", ""),
    ("+ its audit event, customer = 1 of 10,000 (64 chains)", EVENT.format(customer=":aid")),
    ("+ its audit event, no customer (chain 0)", EVENT.format(customer="NULL")),
]


def prepare() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_account (id bigint PRIMARY KEY, balance numeric(20, 6))"
        )
        cursor.execute(
            "INSERT INTO bench_account SELECT g, 0 FROM generate_series(1, %s) g ON CONFLICT DO NOTHING",
            [ACCOUNTS],
        )
        cursor.execute("VACUUM ANALYZE bench_account")
    connection.close()


def sealing() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regproc('audit_seal') IS NOT NULL")
        return cursor.fetchone()[0]


def seal_all() -> tuple[int, float]:
    """Seal every unsealed event as the beat task does; (events sealed, seconds)."""
    from audit.sealing import seal_events

    started = time.perf_counter()
    total = 0
    while True:
        sealed = seal_events(write_anchor=False).sealed
        total += sealed
        if not sealed:
            break
    return total, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    machine = machine_line()
    binary = pgbench_binary()
    prepare()
    sealed_by_task = sealing()
    clients = [int(c) for c in args.clients.split(",")]
    table = Table(
        title="A money change and its audit event, from pgbench (same database, same run)",
        columns=[
            "clients",
            *(name + ", tps" for name, _ in VARIANTS),
            "with event / alone (64 chains)",
            "with event / alone (chain 0)",
        ],
    )
    for n in clients:
        cells = []
        for name, audit in VARIANTS:
            say(f"{n} client(s): {name}")
            cells.append(
                pgbench_run(binary, n, args.seconds, script=MONEY.format(accounts=ACCOUNTS, audit=audit))
            )
        table.add(str(n), *cells, ratio(cells[1], cells[0]), ratio(cells[2], cells[0]))
    notes = [
        machine,
        f"{args.seconds} s per cell, pgbench -c N -j N; one transaction = BEGIN, UPDATE one of "
        f"{ACCOUNTS:,} account rows, [INSERT one audit event], COMMIT.",
    ]
    if sealed_by_task:
        count, seconds = seal_all()
        notes.append(
            f"Events appended unsealed; then sealed by audit.sealing.seal_events (the beat task's work): "
            f"{count:,} events in {seconds:.1f} s ({count / seconds if seconds else 0:,.0f} events/s)."
        )
    else:
        notes.append("Events chained at insert (the insert trigger locks its chain's head until COMMIT).")
    table.notes = notes
    table.emit("audit_append")


if __name__ == "__main__":
    main()
