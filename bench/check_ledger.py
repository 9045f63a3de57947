"""Bench 4, `check_ledger` over the whole data set: wall time, against reading the ledger once.

check_ledger recomputes every customer's figures from the rows (one GROUP BY over the transactions and one
over open reservations, joined to the running totals) and checks the master wallets, transfers and
commits. Baseline, in the same run: one sequential pass over the ledger (SELECT count(*), sum(amount) FROM
customers_transaction), the least any recomputation must read. check_finance (every payment's and
invoice's cached totals against their rows) is timed too.

    python -m bench.check_ledger [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench._common import (
    REPO,
    Table,
    bench_env,
    data_size_line,
    machine_line,
    median,
    ratio,
    say,
    setup_django,
)


def timed_median(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the median is shown (default 3)")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from customers.selectors import ledger_mismatches
    from finance.checks import finance_mismatches

    machine, sizes = machine_line(), data_size_line()

    def scan():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), sum(amount) FROM customers_transaction")
            return cursor.fetchone()

    say("baseline: one pass over the ledger")
    scan()  # warm the cache: every figure below reads a warm database
    base, (rows, _) = timed_median(scan, args.repeat)
    say("check_ledger (in process)")
    ledger_s, mismatches = timed_median(ledger_mismatches, args.repeat)
    say("check_finance (in process)")
    finance_s, finance_found = timed_median(finance_mismatches, 1)
    connection.close()
    say("manage.py check_ledger (a new process, as an operator runs it)")
    started = time.perf_counter()
    command = subprocess.run([sys.executable, "manage.py", "check_ledger"], cwd=REPO, env=bench_env(),
                             capture_output=True, text=True)
    command_s = time.perf_counter() - started

    table = Table(title="check_ledger over the whole data set, against one pass over the ledger",
                  columns=["what", "wall s", "ratio to one pass over the ledger", "result"])
    table.add("baseline: SELECT count(*), sum(amount) FROM customers_transaction", base, "1.00", f"{rows:,} rows")
    table.add("check_ledger (ledger_mismatches, in process)", ledger_s, ratio(ledger_s, base),
              "clean" if not mismatches else f"{len(mismatches)} mismatches")
    table.add("manage.py check_ledger (new process, Django start-up included)", command_s, ratio(command_s, base),
              "clean" if command.returncode == 0 else f"exit {command.returncode}")
    table.add("check_finance (finance_mismatches, in process)", finance_s, ratio(finance_s, base),
              "clean" if not finance_found else f"{len(finance_found)} mismatches")
    table.notes = [machine, sizes,
                   f"Median of {args.repeat} runs on a warm cache (check_finance: one run)."]
    table.emit("check_ledger")


if __name__ == "__main__":
    main()
