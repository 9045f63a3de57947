"""Bench: a 50,000-line camt.053 statement imported against the bench data set (100,000 customers): parsed,
stored once each line, and every line's suggestions made (banking.services.imports.statement_import, the call the
upload page and `manage.py import_statement` make). Target (issue 22): under 60 s wall.

The statement is built from the data set, as a month of a busy reseller's receipts would look: up to 60% of the
lines quote an open invoice's number with its open amount (as many as the data set has open SGD invoices with
money owed: 11,015 in the 100k data set), the rest in four: a customer's code (1.3 parts), only the payer's name
(1.3 parts: the customer's name upper-cased without its legal form, so the fuzzy name match does the work), a payer
nobody knows, and 2% of the file money out (bank charges). Baseline, in the same run: parsing the same file alone (lxml), the least an
import must do. Each run imports into a new bank account (so every line is new) and keeps it: the reconcile
inbox of bench/pages.py then has lines to list.

    python -m bench.bank_import [--lines 50000] [--seed 22] [--fill]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from decimal import Decimal

from bench._common import Table, data_size_line, machine_line, ratio, say, setup_django

TARGET_SECONDS = 60


def build_entries(lines: int, rng: random.Random) -> list[dict]:
    from customers.models import Customer
    from invoices.models import OPEN_STATUSES, Invoice, InvoiceType

    today = dt.date.today()
    invoices = list(Invoice.objects.filter(status__in=OPEN_STATUSES, currency="SGD")
                    .exclude(type=InvoiceType.TOP_UP).select_related("customer")
                    .order_by("?")[:int(lines * 0.6)])
    customers = list(Customer.objects.filter(currency="SGD").order_by("?").values_list("code", "name")[:lines])
    entries: list[dict] = []
    n = 0

    def add(amount: Decimal, **kwargs) -> None:
        nonlocal n
        n += 1
        entries.append({"amount": amount, "date": today - dt.timedelta(days=rng.randrange(0, 30)),
                        "ref": f"BENCH-{n:07d}", "e2e": f"E2E-{n:07d}", **kwargs})

    for invoice in invoices:
        if invoice.amount_outstanding <= 0:
            continue
        add(invoice.amount_outstanding, name=invoice.customer.name,
            text=f"{invoice.number} {invoice.customer.code}")
    share = (lines - len(entries)) // 4
    for code, _name in customers[:int(share * 1.3)]:
        add(Decimal(rng.randrange(1000, 500000)) / 100, name="", text=f"{code} monthly")
    for _code, name in customers[int(share * 1.3):int(share * 2.6)]:
        payer = " ".join(w for w in name.split() if w.lower() not in ("pte", "ltd", "inc", "llc", "gmbh")).upper()
        add(Decimal(rng.randrange(1000, 500000)) / 100, name=payer, text="Payment")
    while len(entries) < lines - lines // 50:
        add(Decimal(rng.randrange(100, 100000)) / 100, name=f"UNKNOWN PAYER {rng.randrange(10**6)}", text="Transfer")
    while len(entries) < lines:
        add(-Decimal(rng.randrange(100, 5000)) / 100, name="DBS Bank", text="Charges")
    rng.shuffle(entries)
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--fill", action="store_true",
                        help="only import the statement (no timing, no results file): how bench/pages.py gives the "
                             "small database its reconcile inbox")
    args = parser.parse_args()
    setup_django()
    from django.utils import timezone

    from audit.actors import Actor
    from banking.demo import camt053_document
    from banking.matching import HIGH
    from banking.models import BankAccount, LineState, StatementLine
    from banking.parsers import parse_statement
    from banking.services.accounts import bank_account_create
    from banking.services.imports import statement_import

    machine, sizes = machine_line(), data_size_line()
    rng = random.Random(args.seed)
    say(f"building a {args.lines:,}-line camt.053 from the data set")
    stamp = timezone.now().strftime("%Y%m%d%H%M%S")
    iban = f"SG{rng.randrange(10**20):020d}"
    content = camt053_document(iban=iban, currency="SGD", statement_id=f"BENCH-{stamp}",
                               entries=build_entries(args.lines, rng))
    actor = Actor.system("bench")
    account = bank_account_create(name=f"Bench {stamp}", code=f"bench-{stamp}", iban=iban, currency="SGD",
                                  actor=actor, at=timezone.now())

    if args.fill:
        statement = statement_import(account_id=account.pk, file_name=f"bench-{stamp}.xml", content=content,
                                     actor=actor, at=timezone.now())
        say(f"{statement.lines_new:,} statement lines imported into {account.code}")
        return

    say("baseline: parsing the file alone")
    started = time.perf_counter()
    parsed = parse_statement(content, account)
    parse_s = time.perf_counter() - started

    say("statement_import: parse, store, suggest, audit, commit")
    started = time.perf_counter()
    statement = statement_import(account_id=account.pk, file_name=f"bench-{stamp}.xml", content=content,
                                 actor=actor, at=timezone.now())
    import_s = time.perf_counter() - started

    say("the same file again: every line already imported")
    started = time.perf_counter()
    again = statement_import(account_id=account.pk, file_name=f"bench-{stamp}-again.xml", content=content,
                             actor=actor, at=timezone.now())
    again_s = time.perf_counter() - started

    lines = StatementLine.objects.filter(statement=statement)
    suggested = lines.filter(state=LineState.SUGGESTED).count()
    high = lines.filter(best_score__gte=HIGH).count()
    table = Table(title=f"Bank statement import: {statement.lines_total:,}-line camt.053 against the data set",
                  columns=["what", "wall s", "ratio to parsing alone", "result"])
    table.add("baseline: parse the file (lxml)", parse_s, "1.00", f"{len(parsed.lines):,} lines, "
              f"{len(content) / 1_048_576:.1f} MB")
    table.add("statement_import (parse, store, suggest, one audit event, commit)", import_s, ratio(import_s, parse_s),
              f"{statement.lines_new:,} new; {suggested:,} with suggestions, {high:,} high-confidence; "
              f"target < {TARGET_SECONDS} s: {'met' if import_s < TARGET_SECONDS else 'NOT met'}")
    table.add("the same file again (nothing new)", again_s, ratio(again_s, parse_s),
              f"{again.lines_new:,} new, {again.lines_duplicate:,} already imported")
    table.notes = [machine, sizes, f"Bank account {account.code}; one run each (the import is not repeatable on "
                                   f"the same account: the second run is the re-import). "
                                   f"{BankAccount.objects.count()} bench bank accounts in the database."]
    table.emit("bank_import")


if __name__ == "__main__":
    main()
