"""Finance's Celery tasks: one service call each. The daily auto top-up is scheduled by Celery beat
(config/settings.py CELERY_BEAT_SCHEDULE "daily-auto-top-up", 06:00 in the operator's timezone).

Delivery is at-least-once: acks_late + reject_on_worker_lost give a task back to the broker when its worker
dies, so the services behind these tasks are idempotent (the daily job by its unique key per customer and
day, a notice by its queued status)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from audit.actors import Actor

from .models import AutoTopUpTrigger
from .services.aged_receivables import aged_receivables_refresh
from .services.auto_top_up import JOB_LABEL, auto_top_up_notice_deliver, run_daily_auto_top_up
from .services.cards import card_payments_expire

CARD_EXPIRY_LABEL = "card-payment-expiry"


@shared_task(name="finance.tasks.daily_auto_top_up", bind=True, acks_late=True, reject_on_worker_lost=True)
def daily_auto_top_up(self, run_date: str | None = None, run_id: int | None = None) -> dict:
    """The day's auto top-up. `run_date` (YYYY-MM-DD) defaults to today in the operator's timezone
    (settings.TIME_ZONE), taken when the task runs. `run_id`: the run staff queued with "Run now"
    (services.auto_top_up.auto_top_up_run_now), which this task starts. settings.LEDGERDESK_AUTO_TOP_UP_THREADS
    (default 1) shares the candidates among threads."""
    day = dt.date.fromisoformat(run_date) if run_date else timezone.localdate()
    trigger = AutoTopUpTrigger.STAFF if run_id is not None else AutoTopUpTrigger.BEAT
    run = run_daily_auto_top_up(run_date=day, actor=Actor.system(JOB_LABEL), trigger=trigger,
                                task_id=self.request.id or "", run_id=run_id,
                                threads=getattr(settings, "LEDGERDESK_AUTO_TOP_UP_THREADS", 1))
    return {"run": run.pk, "run_date": day.isoformat(), "customers": run.customers_count,
            "fired": run.fired_count, "failed": run.failed_count, "skipped": run.skipped_count}


@shared_task(name="finance.tasks.deliver_auto_top_up_notice", acks_late=True, reject_on_worker_lost=True)
def deliver_auto_top_up_notice(notification_id: int) -> str:
    """Email one queued auto top-up notice (a top-up made, or failed)."""
    return auto_top_up_notice_deliver(notification_id=notification_id, actor=Actor.system(JOB_LABEL)).status


BILLING_CHUNK = 500


@shared_task(name="finance.tasks.monthly_billing_run")
def monthly_billing_run(period: str | None = None) -> dict:
    """Beat, the 1st of the month (CELERY_BEAT_SCHEDULE "monthly-billing-run"): find the period's candidates
    (one query) and hand them to workers in chunks; every chunk bills its customers one short transaction
    each (idempotent, so a redelivered chunk or a second beat bills nothing twice). The run is invoices';
    it lives here because it pays the new invoices with the payments' unallocated cash, which is finance's
    (services.billing.PAYMENT_CASH)."""
    from invoices.selectors import billing_candidates
    from invoices.services.billing import parse_period, previous_period

    month = parse_period(period) if period else previous_period(timezone.now())
    ids = billing_candidates(month)
    for i in range(0, len(ids), BILLING_CHUNK):
        bill_customers.delay(f"{month:%Y-%m}", ids[i:i + BILLING_CHUNK])
    return {"period": f"{month:%Y-%m}", "customers": len(ids), "chunks": -(-len(ids) // BILLING_CHUNK)}


@shared_task(name="finance.tasks.bill_customers")
def bill_customers(period: str, customer_ids: list[int]) -> dict:
    from invoices.services.billing import monthly_billing_run as run

    from .services.billing import PAYMENT_CASH

    result = run(period=period, customer_ids=customer_ids, actor=Actor.system("monthly-billing-run"),
                 cash_source=PAYMENT_CASH)
    return {"period": period, "invoiced": len(result.invoiced), "nothing_to_bill": result.nothing_to_bill,
            "failed": result.failed}


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
