"""The daily auto top-up in chunks: a customer whose handling raises unexpectedly is recorded with its error on
the run, retried with back-off (in this process, and by a real Celery worker re-sending the chunk), and
recorded as failed after the last attempt; the run finishes when every chunk is done; the progress staff and
the command see. The unexpected error is injected into the one service call it interrupts (as the delivery
tests inject a dying worker); everything else is the real code on PostgreSQL (and Redis for the worker)."""

from __future__ import annotations

import io
import time
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from customers.models import Notification
from customers.selectors import ledger_mismatches
from finance.auto_top_up.selectors import run_progress
from finance.models import (
    AutoTopUp,
    AutoTopUpChunk,
    AutoTopUpChunkStatus,
    AutoTopUpRun,
    TopUpDecision,
    TopUpMethod,
)
from finance.services import auto_top_up as service
from finance.tasks import daily_auto_top_up
from tests.finance.auto_top_up_support import (
    AT,
    RUN_DATE,
    SYSTEM,
    at_six,
    customer_with,
    transfers,
    wait_finished,
    wallet,
)

pytestmark = pytest.mark.django_db(transaction=True)


def flaky(monkeypatch, customer_id: int, failures: int) -> dict:
    """The master-wallet transfer of `customer_id` raises on its first `failures` calls (an unexpected error
    inside that customer's transaction, which rolls it back); every other call is the real one."""
    real = service.master_wallet_transfer
    calls = {"n": 0}

    def transfer(**kwargs):
        if kwargs["customer_id"] == customer_id and calls["n"] < failures:
            calls["n"] += 1
            raise RuntimeError("connection reset while transferring")
        return real(**kwargs)

    monkeypatch.setattr(service, "master_wallet_transfer", transfer)
    return calls


@pytest.fixture
def six(settings):
    settings.LEDGERDESK_AUTO_TOP_UP_RETRY_BACKOFF = (0, 0)  # three attempts, no wait (the back-off: below)
    wallet("1000")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10") for _ in range(6)]
    with time_machine.travel(AT, tick=True):
        yield customers


def test_an_unexpected_error_is_recorded_on_the_run_and_the_chunk_retried_until_it_passes(six, monkeypatch):
    customers = six
    victim = customers[1]
    flaky(monkeypatch, victim.pk, failures=2)
    begun = service.auto_top_up_run_begin(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, chunk_size=3)
    first, second = begun.chunk_ids

    result = service.auto_top_up_run_chunk(chunk_id=first, actor=SYSTEM, email_via_celery=False)
    assert (result.state, result.retry_in) == ("retry", 0)
    chunk = AutoTopUpChunk.objects.get(pk=first)
    assert chunk.status == AutoTopUpChunkStatus.RETRY and chunk.attempts == 1
    assert chunk.errors == {str(victim.pk): "RuntimeError: connection reset while transferring"}
    progress = run_progress(begun.run.pk)
    assert (progress.done, progress.fired, progress.retrying, progress.finished) == (2, 2, 1, False)
    assert "connection reset" in progress.last_errors[0]
    assert not AutoTopUp.objects.filter(customer=victim).exists()  # its transaction rolled back

    assert service.auto_top_up_run_chunk(chunk_id=second, actor=SYSTEM, email_via_celery=False).state == "done"
    assert AutoTopUpRun.objects.get(pk=begun.run.pk).finished_at is None  # a chunk still waits to retry
    assert service.auto_top_up_run_chunk(chunk_id=first, actor=SYSTEM, email_via_celery=False).state == "retry"
    last = service.auto_top_up_run_chunk(chunk_id=first, actor=SYSTEM, email_via_celery=False)
    assert (last.state, last.handled, last.run_finished) == ("done", 1, True)  # only the victim handled again

    run = AutoTopUpRun.objects.get(pk=begun.run.pk)
    assert (run.customers_count, run.fired_count, run.failed_count) == (6, 6, 0)
    assert AutoTopUpChunk.objects.get(pk=first).attempts == 3
    assert all(transfers(c) == Decimal("10") for c in customers)
    assert len(mail.outbox) == 6  # one notice each, though the chunk ran three times
    assert ledger_mismatches() == []


def test_a_customer_failing_on_every_attempt_is_recorded_as_failed_and_the_run_still_finishes(six, monkeypatch):
    customers = six
    victim = customers[4]
    flaky(monkeypatch, victim.pk, failures=99)
    run = service.run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, chunk_size=3)
    assert run.finished_at is not None
    assert (run.fired_count, run.failed_count) == (5, 1)
    decision = run.decisions.get(customer=victim)
    assert decision.decision == TopUpDecision.FAILED
    assert "RuntimeError" in decision.reason and "3 attempts" in decision.reason
    chunk = AutoTopUpChunk.objects.get(run=run, seq=1)
    assert (chunk.status, chunk.attempts) == (AutoTopUpChunkStatus.DONE, 3)
    assert chunk.errors == {str(victim.pk): "RuntimeError: connection reset while transferring"}
    assert not AutoTopUp.objects.filter(customer=victim).exists() and transfers(victim) == 0
    # The next run of the day tries it again, and tops up nobody twice.
    monkeypatch.undo()
    again = service.run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
    assert (again.fired_count, again.skipped_count) == (1, 5) and transfers(victim) == Decimal("10")


def test_the_back_off_waits_between_attempts(settings, monkeypatch):
    settings.LEDGERDESK_AUTO_TOP_UP_RETRY_BACKOFF = (1,)
    wallet("1000")
    victim = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10")
    flaky(monkeypatch, victim.pk, failures=1)
    seen = []
    with time_machine.travel(AT, tick=True):
        run = service.run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False,
                                            progress=seen.append)
    assert [(p.done, p.retrying) for p in seen] == [(0, 1), (1, 0)]
    assert run.fired_count == 1
    chunk = run.chunks.get()
    assert chunk.attempts == 2 and (run.finished_at - chunk.claimed_at).total_seconds() < 5
    assert (chunk.claimed_at - run.started_at).total_seconds() >= 1  # the second attempt waited its second


def test_the_command_prints_a_progress_bar(six):
    out = io.StringIO()
    call_command("auto_top_up", "--date", RUN_DATE.isoformat(), "--email-now", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[") and "100% 6/6 customers, 6 topped up, 0 failed" in lines[0]
    assert lines[-1].startswith(f"Auto top-up {RUN_DATE.isoformat()} (run #")


def test_a_chunk_with_an_error_is_sent_again_after_its_back_off_by_the_worker(celery_worker, settings, monkeypatch):
    settings.LEDGERDESK_AUTO_TOP_UP_RETRY_BACKOFF = (1, 1)
    wallet("1000")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10") for _ in range(4)]
    calls = flaky(monkeypatch, customers[2].pk, failures=1)
    with time_machine.travel(at_six(), tick=True):
        answer = daily_auto_top_up.delay(RUN_DATE.isoformat()).get(timeout=60)
        run = wait_finished(answer["run"], 60)
    assert calls["n"] == 1 and (run.fired_count, run.failed_count) == (4, 0)
    assert run.chunks.get().attempts == 2
    assert all(transfers(c) == Decimal("10") for c in customers)
    # The notices went out in one task per chunk attempt, each once. That task runs on the worker after the
    # chunk commits, so the run can be finished a moment before its last notice is sent: wait for it.
    notices = Notification.objects.filter(source_type=service.SOURCE_TYPE)
    deadline = time.monotonic() + 30
    while notices.filter(status="queued").exists():
        assert time.monotonic() < deadline, "a notice stayed queued for 30 s"
        time.sleep(0.2)
    assert sorted(notices.values_list("status", flat=True)) == ["sent"] * 4


def test_the_progress_of_a_run_under_way_is_polled_until_it_finishes(six, viewer_client):
    begun = service.auto_top_up_run_begin(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, chunk_size=3)
    url = reverse("finance:auto-top-up-run-progress", args=[begun.run.pk])
    page = viewer_client.get(reverse("finance:auto-top-up-runs") + f"?date={RUN_DATE.isoformat()}")
    assert page.status_code == 200 and f'hx-get="{url}"' in page.content.decode()
    part = viewer_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in part and '<span data-figure="to-do">6</span>' in part
    assert '<span data-figure="done">0</span>' in part
    for chunk_id in begun.chunk_ids:
        service.auto_top_up_run_chunk(chunk_id=chunk_id, actor=SYSTEM, email_via_celery=False)
    part = viewer_client.get(url).content.decode()
    assert "hx-trigger" not in part and '<span data-figure="fired">6</span>' in part and "Finished" in part
    assert viewer_client.get(reverse("finance:auto-top-up-run-progress", args=[begun.run.pk + 999])).status_code == 404
