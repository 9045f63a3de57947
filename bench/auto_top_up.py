"""Bench: the daily auto top-up over 100,000 customers with auto top-up on.

Seeds (in bulk, consistent with the ledger) N customers with payment settings, auto top-up on: half
issue from the master account, four in ten by cheque/TT (a top-up invoice issued and sent), one in ten by
card (an off-session charge on the fake Stripe server, started in this process). Then:

  day 1, run 1              cohort A (the `--due` share of the customers) is at or below its threshold;
                            everyone else is above it
  day 1, run 2              the same day again: every customer already handled or above threshold
  day 2                     cohort B (another `--due` share) dipped below the threshold overnight
                            (a usage charge); cohort A is above it again, or has an open top-up invoice

and a baseline in the same run: the floor cost of "each candidate in its own short transaction" (BEGIN,
lock the customer row, insert one row, COMMIT) for as many customers as run 1 topped up.

    python -m bench.auto_top_up [--customers 100000] [--due 0.02] [--keep]

Each run here is handled in this one process, chunk after chunk (as manage.py auto_top_up does); bench/jobs.py
measures the run fanned out over Celery worker processes.

It works in its own database (BENCH_AUTO_TOP_UP_DATABASE, default ledgerdesk_bench_auto_top_up on the
bench server), created and migrated at the start and dropped at the end unless --keep.
Target (issue 8): a run over 100,000 customers finishes in minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from decimal import Decimal
from urllib.parse import urlparse, urlunparse

from bench._common import Table, database_url, fmt, machine_line, ratio, say, timed

DEFAULT_NAME = "ledgerdesk_bench_auto_top_up"
CODE = "BENCH-ATU-"
BATCH = 5000
TRIGGER = Decimal("100")
THRESHOLD = Decimal("50")
LOW, HIGH = Decimal("20"), Decimal("500")
DAY1 = dt.date(2026, 3, 16)
DAY2 = DAY1 + dt.timedelta(days=1)


def _server_url(name: str) -> str:
    return urlunparse(urlparse(database_url())._replace(path=f"/{name}"))


def _recreate(name: str) -> None:
    import psycopg

    with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def method_of(i: int, step: int) -> str:
    """5 in 10 master account, 4 in 10 cheque/TT, 1 in 10 card: over all customers, and within each cohort
    (whose members are `step` apart)."""
    k = i // step
    return "master_account" if k % 10 < 5 else ("cheque_tt" if k % 10 < 9 else "card")


def cohort(i: int, share: float, offset: int) -> bool:
    """Every (1/share)th customer, starting at `offset`: cohort A (offset 0) and B (offset half a step)."""
    step = max(1, round(1 / share))
    return i % step == offset % step


def seed(count: int, share: float, fake_stripe) -> dict:
    """Customers, their opening credit (a ledger entry each, so the running totals equal the rows), their
    payment settings, the master wallet, and saved test cards for the card customers who will be charged."""
    import stripe
    from django.utils import timezone

    from audit.actors import Actor
    from customers.models import Customer, Transaction, TransactionKind
    from customers.services import master_wallet_create, master_wallet_fund
    from finance.models import PaymentSettings

    now = timezone.now()
    step = max(1, round(1 / share))
    a_offset, b_offset = 0, step // 2
    say(f"seeding {count:,} customers")
    for start in range(1, count + 1, BATCH):
        numbers = range(start, min(start + BATCH, count + 1))
        Customer.objects.bulk_create([
            Customer(name=f"Bench Org {i}", code=f"{CODE}{i:06d}", billing_email=f"billing{i}@bench.example",
                     amount_due=LOW if cohort(i, share, a_offset) else HIGH)
            for i in numbers])
    ids = dict(Customer.objects.filter(code__startswith=CODE).values_list("code", "pk"))
    number_of = {pk: int(code[len(CODE):]) for code, pk in ids.items()}
    for start in range(0, len(ids), BATCH):
        chunk = list(number_of.items())[start:start + BATCH]
        Transaction.objects.bulk_create([
            Transaction(customer_id=pk, kind=TransactionKind.TOP_UP, bucket="due",
                        amount=LOW if cohort(i, share, a_offset) else HIGH, occurred_at=now,
                        reference="bench opening credit") for pk, i in chunk])
        PaymentSettings.objects.bulk_create([
            PaymentSettings(customer_id=pk, method=method_of(i, step), trigger_amount=TRIGGER, limit_threshold=THRESHOLD,
                            auto_top_up_enabled=True, updated_at=now, updated_by="bench") for pk, i in chunk])
    actor = Actor.system("bench")
    wallet = master_wallet_create(name="Bench master SGD", currency="SGD", actor=actor)
    master_wallet_fund(wallet_id=wallet.pk, amount=Decimal("1000000000"), reference="bench", actor=actor, at=now)
    client = stripe.StripeClient("sk_test_bench", base_addresses={"api": fake_stripe.url})
    cards = [pk for pk, i in number_of.items() if method_of(i, step) == "card"
             and (cohort(i, share, a_offset) or cohort(i, share, b_offset))]
    say(f"saving {len(cards)} test cards on the fake Stripe")
    for pk in cards:
        sc = client.v1.customers.create({"email": f"bench{pk}@bench.example"})
        method = fake_stripe.add_payment_method(sc.id, "4242424242424242")
        Customer.objects.filter(pk=pk).update(stripe_customer_id=sc.id, stripe_payment_method_id=method["id"],
                                              card_brand="visa", card_last4="4242")
    cohort_b = [pk for pk, i in number_of.items() if cohort(i, share, b_offset)]
    return {"ids": list(ids.values()), "cohort_b": cohort_b}


def overnight_usage(customer_ids: list[int]) -> None:
    """Cohort B spends down to just above zero overnight: a usage charge each (unbilled), set-based."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from customers.models import Customer, Transaction, TransactionKind

    spent = HIGH - LOW
    with transaction.atomic():
        Transaction.objects.bulk_create([
            Transaction(customer_id=pk, kind=TransactionKind.CALL, bucket="unbilled", amount=-spent,
                        occurred_at=timezone.now(), reference="bench usage") for pk in customer_ids], batch_size=BATCH)
        Customer.objects.filter(pk__in=customer_ids).update(amount_unbilled=F("amount_unbilled") - spent)


def floor(customer_ids: list[int]) -> float:
    """Seconds for the minimal per-customer transaction over these customers (the same driver and ORM)."""
    from django.db import connection, transaction

    from customers.locks import lock_customer

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor (customer_id bigint, at timestamptz)")
    with timed() as watch:
        for pk in customer_ids:
            with transaction.atomic():
                lock_customer(pk)
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO bench_floor VALUES (%s, now())", [pk])
    return watch.seconds


def classify_only(day: dt.date) -> tuple[float, int]:
    """The set-based statement alone (in a transaction rolled back), and the candidates it found."""
    from django.db import transaction
    from django.utils import timezone

    from finance.auto_top_up.selectors import classify_and_log_skips
    from finance.models import AutoTopUpRun

    with timed() as watch:
        try:
            with transaction.atomic():
                run = AutoTopUpRun.objects.create(run_date=day, trigger="command", started_at=timezone.now())
                found = classify_and_log_skips(run_id=run.pk, run_date=day, decided_at=timezone.now())
                raise _Rollback(len(found))
        except _Rollback as done:
            count = done.args[0]
    return watch.seconds, count


class _Rollback(Exception):
    pass


def job(day: dt.date):
    from audit.actors import Actor
    from finance.services.auto_top_up import run_daily_auto_top_up

    with timed() as watch:
        run = run_daily_auto_top_up(run_date=day, actor=Actor.system("bench"))
    return watch.seconds, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--due", type=float, default=0.02, help="share of customers under threshold (default 0.02)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    name = os.environ.get("BENCH_AUTO_TOP_UP_DATABASE", DEFAULT_NAME)
    machine = machine_line()
    say(f"database {name}: creating and migrating")
    _recreate(name)
    os.environ["BENCH_DATABASE_URL"] = _server_url(name)
    from bench._common import setup_django

    setup_django()
    import stripe
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from config.celery import app
    from fakestripe import FakeStripe

    call_command("migrate", verbosity=0)
    stripe.enable_telemetry = False
    fake = FakeStripe(webhook_url=None, auto_deliver=False).start()
    settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = fake.url, "sk_test_bench"
    try:
        seeded = seed(args.customers, args.due, fake)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        from finance.models import AutoTopUp

        say("day 1: the set-based statement alone")
        classify_seconds, candidates = classify_only(DAY1)
        say(f"day 1, run 1: {candidates:,} candidates, 1 thread")
        run1_seconds, run1 = job(DAY1)
        say("day 1, run 2: the same day again")
        run2_seconds, run2 = job(DAY1)
        say("baseline: minimal per-customer transactions")
        fired_ids = list(AutoTopUp.objects.filter(run_date=DAY1).values_list("customer_id", flat=True))
        floor_seconds = floor(fired_ids)
        overnight_usage(seeded["cohort_b"])
        say(f"day 2: {len(seeded['cohort_b']):,} customers dipped under threshold")
        run3_seconds, run3 = job(DAY2)
        app.control.purge()  # the invoice emails and notices queued for workers this bench does not run
    finally:
        fake.stop()
        connection.close()
        if not args.keep:
            _drop(name)

    def per(seconds: float, n: int | None) -> str:
        return fmt(seconds / n * 1000) if n else "n/a"

    table = Table(
        title=f"Daily auto top-up over {args.customers:,} customers with auto top-up on",
        columns=["run", "customers", "topped up", "failed", "skipped", "seconds", "ms per top-up",
                 "ratio to the floor"],
    )
    floor_per = floor_seconds / len(fired_ids) if fired_ids else 0
    table.add("classification statement alone (day 1)", args.customers, str(candidates), "", "",
              classify_seconds, "", "")
    for label, seconds, run in (("day 1, run 1", run1_seconds, run1),
                                ("day 1, run 2 (same day again)", run2_seconds, run2),
                                ("day 2", run3_seconds, run3)):
        table.add(label, run.customers_count, run.fired_count, run.failed_count, run.skipped_count, seconds,
                  per(seconds, run.fired_count), ratio(seconds / run.fired_count, floor_per) if run.fired_count else "")
    table.add("floor: BEGIN, lock customer, INSERT, COMMIT", len(fired_ids), "", "", "", floor_seconds,
              per(floor_seconds, len(fired_ids)), "1.00")
    table.notes = [
        machine,
        f"Methods: 50% master account, 40% cheque/TT, 10% card (fake Stripe in this process); trigger {TRIGGER}, "
        f"threshold {THRESHOLD}; cohorts of {args.due:.0%} under the threshold each day.",
        "A top-up is one short transaction per customer (two for a card) with the services it calls: the master "
        "wallet transfer, the top-up invoice issued and sent (its email queued for a worker), the card charge, "
        "the notification and their audit events; emails are delivered by Celery workers, not in the run.",
        "Skips are written by the one set-based statement: a run's cost grows with the customers it tops up, "
        "not with the customers it looks at.",
        f"At the measured {fmt(run1_seconds / run1.fired_count * 1000 if run1.fired_count else 0)} ms per top-up "
        f"(1 thread), a day topping up 10% of {args.customers:,} customers would take "
        f"{fmt(run1_seconds / run1.fired_count * args.customers * 0.10 / 60 if run1.fired_count else 0)} minutes.",
        "Target (issue 8): a run over 100,000 customers finishes in minutes.",
    ]
    table.emit("auto_top_up")


if __name__ == "__main__":
    main()
