"""At most one auto top-up per customer per day, whatever the delivery does: the task sent twice, beat
firing twice, a worker killed halfway and the task redelivered. A real Celery worker (tests/conftest.py
`celery_worker`: start_worker, pool solo) on the real Redis runs the real task; beat is an in-memory
`celery.beat.Scheduler` driven by a fake clock; a "killed worker" is a thread whose run dies mid-way (its
open transaction rolled back, as PostgreSQL does when a connection drops) before the task is delivered
again."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from celery.beat import Scheduler
from django.conf import settings
from django.db.models import Count, Sum

from customers.models import Customer, MasterWallet, TransactionKind
from customers.selectors import ledger_mismatches
from finance.models import (
    AutoTopUp,
    AutoTopUpChunk,
    AutoTopUpChunkStatus,
    AutoTopUpRun,
    AutoTopUpStatus,
    CardPayment,
    TopUpDecision,
    TopUpMethod,
)
from finance.services import auto_top_up as service
from finance.tasks import auto_top_up_chunk, daily_auto_top_up
from tests import stripe_fixtures
from tests.finance.auto_top_up_support import (
    RUN_DATE,
    SYSTEM,
    at_six,
    card_customer,
    credited,
    customer_with,
    wait_finished,
    wallet,
)
from tests.threads import run_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]
fake_stripe_server, fake_stripe = stripe_fixtures.fake_stripe_server, stripe_fixtures.fake_stripe
NEXT_DAY = RUN_DATE + dt.timedelta(days=1)
CUSTOMERS = 100
TRIGGER = Decimal("10")
TIMEOUT = 120


DOOMED = "doomed-worker"  # the thread `_killer` kills (tests.threads names it doomed-worker-0)


class Killed(BaseException):
    """The worker process dying: not an error the code handles, it just stops."""


@pytest.fixture
def hundred():
    """100 customers with auto top-up from the master account, all under their threshold."""
    master = wallet("100000")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger=TRIGGER, threshold="50")
                 for _ in range(CUSTOMERS)]
    return master, customers


def send_and_wait(*results) -> list[dict]:
    """Each daily task's answer (the run begun, its chunks sent), then its run's counts once the worker has
    handled every chunk (the chunk that ends last finishes the run)."""
    return [finished(r.get(timeout=TIMEOUT)["run"]) for r in results]


def finished(run_id: int) -> dict:
    run = wait_finished(run_id, TIMEOUT)
    return {"run": run.pk, "run_date": run.run_date.isoformat(), "customers": run.customers_count,
            "fired": run.fired_count, "failed": run.failed_count, "skipped": run.skipped_count}


def assert_one_top_up_each(customers, days: list[dt.date]):
    ids = [c.pk for c in customers]
    per_day = (AutoTopUp.objects.filter(customer_id__in=ids).values("run_date", "status")
               .annotate(n=Count("id")).order_by("run_date"))
    assert [(r["run_date"], r["status"], r["n"]) for r in per_day] == [(d, "fired", len(ids)) for d in days]
    moved = (Customer.objects.filter(pk__in=ids, transactions__kind=TransactionKind.TRANSFER)
             .values("pk").annotate(total=Sum("transactions__amount")))
    assert {r["total"] for r in moved} == {TRIGGER * len(days)} and len(moved) == len(ids)


def test_the_task_sent_twice_tops_up_each_customer_once_and_the_next_day_once_more(celery_worker, hundred):
    master, customers = hundred
    with time_machine.travel(at_six(), tick=True):
        first, second = send_and_wait(daily_auto_top_up.delay(), daily_auto_top_up.delay())
    assert first["run_date"] == second["run_date"] == "2026-03-16"  # today in the operator's timezone
    assert sorted([first["fired"], second["fired"]]) == [0, CUSTOMERS]
    assert sorted([first["skipped"], second["skipped"]]) == [0, CUSTOMERS]
    assert_one_top_up_each(customers, [RUN_DATE])

    with time_machine.travel(at_six(NEXT_DAY), tick=True):
        (third,) = send_and_wait(daily_auto_top_up.delay())
    assert third["fired"] == CUSTOMERS
    assert_one_top_up_each(customers, [RUN_DATE, NEXT_DAY])
    master.refresh_from_db()
    assert master.balance == Decimal("100000") - 2 * CUSTOMERS * TRIGGER
    assert ledger_mismatches() == []


def _beat() -> Scheduler:
    """A beat scheduler with the project's own entry for the daily auto top-up (schedule in code)."""
    from config.celery import app

    scheduler = Scheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    for name in list(scheduler.schedule):
        if name != "daily-auto-top-up":
            del scheduler.schedule[name]
    return scheduler


def test_beat_firing_twice_at_six_tops_up_each_customer_once(celery_worker, hundred):
    _, customers = hundred
    assert settings.CELERY_BEAT_SCHEDULE["daily-auto-top-up"]["task"] == "finance.tasks.daily_auto_top_up"
    sent = []
    with time_machine.travel(at_six() - dt.timedelta(seconds=10), tick=False) as clock:
        beats = [_beat(), _beat()]  # two beat processes by mistake, or one restarted: both fire
        for beat in beats:
            beat.tick()
        assert AutoTopUpRun.objects.count() == 0 and not sent  # 05:59:50 operator time: not yet
        clock.move_to(at_six() + dt.timedelta(seconds=5))
        original = daily_auto_top_up.apply_async

        def recording(*args, **kwargs):
            result = original(*args, **kwargs)
            sent.append(result)
            return result

        daily_auto_top_up.apply_async = recording
        try:
            for beat in beats:
                beat.tick()
                beat.tick()  # a second tick in the same minute sends nothing more
        finally:
            del daily_auto_top_up.apply_async
    assert len(sent) == 2
    with time_machine.travel(at_six() + dt.timedelta(seconds=6), tick=True):
        send_and_wait(*sent)
    runs = list(AutoTopUpRun.objects.order_by("id"))
    assert [r.run_date for r in runs] == [RUN_DATE, RUN_DATE]
    assert sorted(r.fired_count for r in runs) == [0, CUSTOMERS]
    assert_one_top_up_each(customers, [RUN_DATE])


def _run_until_killed(run_date: dt.date) -> None:
    """Run the daily job in the doomed thread, which dies where `_killer` says."""

    def target(_n: int) -> None:
        try:
            service.run_daily_auto_top_up(run_date=run_date, actor=SYSTEM, email_via_celery=False)
        except Killed:
            pass

    assert run_threads(1, target, TIMEOUT, name=DOOMED) == []


def _killer(monkeypatch, name: str, *, after: int = 0, before_call: bool = True):
    """Make `service.<name>` kill the doomed thread on its call number `after` + 1 (other threads, such as
    the Celery worker's, are never touched): before it runs (`before_call`) or right after it returned."""
    real = getattr(service, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        if not threading.current_thread().name.startswith(DOOMED):
            return real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > after and before_call:
            raise Killed
        result = real(*args, **kwargs)
        if calls["n"] > after:
            raise Killed
        return result

    monkeypatch.setattr(service, name, wrapper)


def test_a_worker_killed_halfway_leaves_each_customer_done_or_not_and_the_redelivery_does_the_rest(
        celery_worker, hundred, monkeypatch):
    master, customers = hundred
    # Killed inside the 51st customer's transaction, in the middle of the master-wallet transfer.
    _killer(monkeypatch, "master_wallet_transfer", after=50)
    with time_machine.travel(at_six(), tick=True):
        _run_until_killed(RUN_DATE)
        killed = AutoTopUpRun.objects.get()
        assert not killed.is_finished
        assert AutoTopUp.objects.filter(run_date=RUN_DATE).count() == 50  # the 51st rolled back with its claim
        master.refresh_from_db()
        assert master.balance == Decimal("100000") - 50 * TRIGGER

        (redelivered,) = send_and_wait(daily_auto_top_up.delay())  # what the broker does with an unacked task
    assert (redelivered["fired"], redelivered["skipped"]) == (50, 50)
    assert_one_top_up_each(customers, [RUN_DATE])
    assert ledger_mismatches() == []


def test_a_chunk_redelivered_after_its_worker_was_killed_finishes_the_same_run_each_customer_once(
        celery_worker, hundred, monkeypatch):
    """The chunk's own redelivery (acks_late: the broker gives it back) finishes the run the killed worker
    began: the 50 it topped up are recorded as fired by this run (found by their day's row), not skipped."""
    master, customers = hundred
    _killer(monkeypatch, "master_wallet_transfer", after=50)
    with time_machine.travel(at_six(), tick=True):
        _run_until_killed(RUN_DATE)
        killed = AutoTopUpRun.objects.get()
        (chunk,) = AutoTopUpChunk.objects.filter(run=killed)
        assert chunk.status == AutoTopUpChunkStatus.RUNNING and not killed.is_finished
        assert AutoTopUp.objects.filter(run_date=RUN_DATE).count() == 50
        assert auto_top_up_chunk.delay(chunk.pk).get(timeout=TIMEOUT)["run_finished"] is True
    killed.refresh_from_db()
    assert (killed.fired_count, killed.skipped_count, killed.failed_count) == (CUSTOMERS, 0, 0)
    assert set(killed.decisions.values_list("decision", flat=True)) == {TopUpDecision.FIRED}
    chunk.refresh_from_db()
    assert (chunk.status, chunk.attempts) == (AutoTopUpChunkStatus.DONE, 2)
    assert_one_top_up_each(customers, [RUN_DATE])
    master.refresh_from_db()
    assert master.balance == Decimal("100000") - CUSTOMERS * TRIGGER
    assert ledger_mismatches() == []


@pytest.mark.parametrize("where", ["after the claim, before Stripe", "after Stripe charged, before recording"])
def test_a_card_charge_interrupted_by_a_killed_worker_is_resumed_once_with_the_same_key(
        celery_worker, fake_stripe, monkeypatch, where):
    cust = card_customer(fake_stripe, credits="0", trigger="100", threshold="50")
    if where == "after the claim, before Stripe":
        _killer(monkeypatch, "card_charge_off_session", before_call=True)
    else:
        _killer(monkeypatch, "card_charge_off_session", before_call=False)
    with time_machine.travel(at_six(), tick=True):
        _run_until_killed(RUN_DATE)
        (row,) = AutoTopUp.objects.filter(customer=cust)
        assert row.status == AutoTopUpStatus.PENDING  # the claim committed before Stripe was called

        (redelivered,) = send_and_wait(daily_auto_top_up.delay())
    row.refresh_from_db()
    assert row.status == AutoTopUpStatus.FIRED and redelivered["fired"] == 1
    (payment,) = CardPayment.objects.filter(customer=cust)
    assert payment.idempotency_key == f"auto-top-up:{cust.pk}:2026-03-16" and row.card_payment_id == payment.pk
    assert credited(cust, TransactionKind.TOP_UP) == Decimal("100")  # credited once
    assert len(fake_stripe.events_of_type("payment_intent.succeeded")) == 1  # charged once
    run = AutoTopUpRun.objects.order_by("-id").first()
    assert run.decisions.get().decision == TopUpDecision.FIRED


def test_the_master_wallet_is_never_left_below_zero_by_a_day_of_runs(celery_worker):
    """Fewer funds than customers: the ones served first get their top-up, the others fail with the reason,
    and the wallet ends at exactly zero."""
    master = wallet("55")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10", threshold="50")
                 for _ in range(8)]
    with time_machine.travel(at_six(), tick=True):
        send_and_wait(daily_auto_top_up.delay(), daily_auto_top_up.delay())
    statuses = AutoTopUp.objects.filter(customer__in=customers).values_list("status", flat=True)
    assert sorted(statuses) == ["failed"] * 3 + ["fired"] * 5
    assert MasterWallet.objects.get(pk=master.pk).balance == Decimal("5")
