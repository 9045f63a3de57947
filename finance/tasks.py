"""Finance's Celery tasks: one service call each. The daily auto top-up is scheduled by Celery beat
(config/settings.py CELERY_BEAT_SCHEDULE "daily-auto-top-up", 06:00 in the operator's timezone).

Delivery is at-least-once: acks_late + reject_on_worker_lost give a task back to the broker when its worker
dies, so the services behind these tasks are idempotent (the daily job by its unique key per customer and
day, a notice by its queued status)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from audit.actors import Actor

from .models import AutoTopUpTrigger
from .services.aged_receivables import aged_receivables_refresh
from .services.auto_top_up import (
    JOB_LABEL,
    auto_top_up_notice_deliver,
    auto_top_up_run_begin,
    auto_top_up_run_chunk,
)
from .services.cards import card_payments_expire

CARD_EXPIRY_LABEL = "card-payment-expiry"


@shared_task(name="finance.tasks.daily_auto_top_up", bind=True, acks_late=True, reject_on_worker_lost=True)
def daily_auto_top_up(self, run_date: str | None = None, run_id: int | None = None) -> dict:
    """The day's auto top-up, fanned out: this task begins the run (earlier card top-ups settled, every skip
    logged and the candidates cut into chunks by one set-based statement) and hands each chunk to any worker
    (`auto_top_up_chunk`); the chunk that ends last finishes the run. `run_date` (YYYY-MM-DD) defaults to
    today in the operator's timezone (settings.TIME_ZONE), taken when the task runs. `run_id`: the run staff
    queued with "Run now" (services.auto_top_up.auto_top_up_run_now), which this task starts."""
    day = dt.date.fromisoformat(run_date) if run_date else timezone.localdate()
    trigger = AutoTopUpTrigger.STAFF if run_id is not None else AutoTopUpTrigger.BEAT
    started = auto_top_up_run_begin(run_date=day, actor=Actor.system(JOB_LABEL), trigger=trigger,
                                    task_id=self.request.id or "", run_id=run_id)
    for chunk_id in started.chunk_ids:
        auto_top_up_chunk.delay(chunk_id)
    return {"run": started.run.pk, "run_date": started.run.run_date.isoformat(),
            "candidates": started.run.candidates_count, "chunks": len(started.chunk_ids)}


@shared_task(name="finance.tasks.auto_top_up_chunk", bind=True, acks_late=True, reject_on_worker_lost=True)
def auto_top_up_chunk(self, chunk_id: int) -> dict:
    """One chunk of a run's candidates, on any worker. A worker killed mid-chunk gives the task back (acks_late,
    reject_on_worker_lost) and the next delivery finishes the chunk; customers with an unexpected error are
    retried after the chunk's back-off (a new delivery of this task with a countdown)."""
    result = auto_top_up_run_chunk(chunk_id=chunk_id, actor=Actor.system(JOB_LABEL),
                                   worker=f"{self.request.hostname or ''}:{self.request.id or ''}")
    if result.state == "retry":
        auto_top_up_chunk.apply_async(args=[chunk_id], countdown=result.retry_in)
    return {"chunk": chunk_id, "state": result.state, "handled": result.handled, "retry_in": result.retry_in,
            "run_finished": result.run_finished}


@shared_task(name="finance.tasks.deliver_auto_top_up_notice", acks_late=True, reject_on_worker_lost=True)
def deliver_auto_top_up_notice(notification_id: int) -> str:
    """Email one queued auto top-up notice (a top-up made, or failed)."""
    return auto_top_up_notice_deliver(notification_id=notification_id, actor=Actor.system(JOB_LABEL)).status


@shared_task(name="finance.tasks.deliver_auto_top_up_notices", acks_late=True, reject_on_worker_lost=True)
def deliver_auto_top_up_notices(notification_ids: list[int]) -> dict:
    """Email a chunk's queued auto top-up notices, each once (a notice sent already is left alone)."""
    actor = Actor.system(JOB_LABEL)
    statuses = [auto_top_up_notice_deliver(notification_id=n, actor=actor).status for n in notification_ids]
    return {status: statuses.count(status) for status in set(statuses)}


# --- The monthly billing run over the workers (invoices.services.billing_run) -----------------------------
# The run is invoices'; its tasks live here because it pays the new invoices with the payments' unallocated cash,
# which is finance's (services.billing.PAYMENT_CASH), passed down as an argument: invoices never reaches up.
BILLING_ACTOR = "monthly-billing-run"


@shared_task(name="finance.tasks.billing_run_start")
def billing_run_start(period: str | None = None, trigger: str = "beat") -> dict:
    """Beat, days 1, 2 and 3 of the month (CELERY_BEAT_SCHEDULE "monthly-billing-run"): a run for last month
    over the customers still without their monthly invoice (on days 2 and 3: what day 1 missed), one
    bill_billing_chunk task per chunk."""
    from invoices.services.billing import parse_period, previous_period
    from invoices.services.billing_run import billing_run_start as start

    month = parse_period(period) if period else previous_period(timezone.now())
    run = start(period=month, trigger=trigger, actor=Actor.system(BILLING_ACTOR))
    for chunk_id in run.chunks.values_list("pk", flat=True):
        bill_billing_chunk.delay(chunk_id)
    return {"run": run.pk, "period": f"{month:%Y-%m}", "customers": run.customers_total, "chunks": run.chunks_total}


@shared_task(name="finance.tasks.bill_billing_chunk", acks_late=True, reject_on_worker_lost=True)
def bill_billing_chunk(chunk_id: int) -> dict:
    """Claim and bill one chunk of a run (acks late: a worker lost in the middle leaves the message to be
    delivered again; the chunk's transaction was rolled back with the worker, and the claim is taken over
    once stale)."""
    from invoices.services.billing_run import run_chunk

    from .services.billing import PAYMENT_CASH

    return run_chunk(chunk_id, actor=Actor.system(BILLING_ACTOR), cash_source=PAYMENT_CASH)


@shared_task(name="finance.tasks.billing_run_resume")
def billing_run_resume() -> dict:
    """Beat, every 5 minutes: hand out again the chunks of unfinished runs that no worker finished (a lost
    message, a killed worker), and retry the failed customers whose back-off is over."""
    from invoices.services.billing_run import retry_failures, stale_chunks

    from .services.billing import PAYMENT_CASH

    chunks = stale_chunks()
    for chunk_id in chunks:
        bill_billing_chunk.delay(chunk_id)
    retried = retry_failures(actor=Actor.system(BILLING_ACTOR), cash_source=PAYMENT_CASH)
    return {"chunks": len(chunks), **retried}


@shared_task(name="finance.tasks.expire_card_payments", acks_late=True, reject_on_worker_lost=True)
def expire_card_payments() -> int:
    """Expire the Checkout payments whose session lifetime is over (CELERY_BEAT_SCHEDULE
    "expire-card-payments", every 15 minutes): expired at Stripe, marked expired, one audit event each.
    Safe to run twice at once or again after a crash (a closed payment is left alone)."""
    return card_payments_expire(actor=Actor.system(CARD_EXPIRY_LABEL))


@shared_task(name="finance.tasks.refresh_aged_receivables", acks_late=True)
def refresh_aged_receivables() -> str:
    """Refresh today's aged receivables (every 5 minutes, CELERY_BEAT_SCHEDULE "refresh-aged-receivables"):
    the view finance_agedreceivable. Safe at any time and twice at once (the second waits for the first)."""
    return aged_receivables_refresh().isoformat()
