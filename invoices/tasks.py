"""Celery tasks: each validates its input and makes one service call (the beat schedule is in settings).
The monthly billing run's tasks are finance's (finance.tasks.monthly_billing_run): the run pays the new
invoices with payments' unallocated cash, which only finance has."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from audit.actors import Actor


@shared_task(name="invoices.tasks.renew_subscriptions")
def renew_subscriptions(on_date: str | None = None) -> dict:
    """Beat, daily: renew the subscriptions due today (operator's calendar)."""
    from .services.common import local_date
    from .services.renewals import renew_due_subscriptions

    day = dt.date.fromisoformat(on_date) if on_date else local_date(timezone.now())
    result = renew_due_subscriptions(on_date=day, actor=Actor.system("subscription-renewals"))
    return {"date": day.isoformat(), "renewed": result.renewed, "failed": result.failed}


@shared_task(name="invoices.tasks.email_invoice", acks_late=True)
def email_invoice(notification_id: int) -> str:
    from .services.delivery import invoice_email_deliver

    return invoice_email_deliver(notification_id=notification_id, actor=Actor.system("invoice-email")).status


# --- the monthly billing run over the workers (services.billing_run) --------------------------------------
BILLING_ACTOR = "monthly-billing-run"


def billing_cash_source():
    """The source of the customers' unallocated payment cash the run pays new invoices with: finance's
    (services.billing.PAYMENT_CASH), named by settings.LEDGERDESK_BILLING_CASH_SOURCE. Invoices cannot import
    finance (the layers contract), so the configuration names it, as it names the email backend."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    path = getattr(settings, "LEDGERDESK_BILLING_CASH_SOURCE", "")
    return import_string(path) if path else None


@shared_task(name="invoices.tasks.billing_run_start")
def billing_run_start(period: str | None = None, trigger: str = "beat") -> dict:
    """Beat, days 1, 2 and 3 of the month (CELERY_BEAT_SCHEDULE "monthly-billing-run"): a run for last month
    over the customers still without their monthly invoice (on days 2 and 3: what day 1 missed), one
    bill_billing_chunk task per chunk."""
    from .services.billing import parse_period, previous_period
    from .services.billing_run import billing_run_start as start

    month = parse_period(period) if period else previous_period(timezone.now())
    run = start(period=month, trigger=trigger, actor=Actor.system(BILLING_ACTOR))
    for chunk_id in run.chunks.values_list("pk", flat=True):
        bill_billing_chunk.delay(chunk_id)
    return {"run": run.pk, "period": f"{month:%Y-%m}", "customers": run.customers_total, "chunks": run.chunks_total}


@shared_task(name="invoices.tasks.bill_billing_chunk", acks_late=True, reject_on_worker_lost=True)
def bill_billing_chunk(chunk_id: int) -> dict:
    """Claim and bill one chunk of a run (acks late: a worker lost in the middle leaves the message to be
    delivered again; the chunk's transaction was rolled back with the worker, and the claim is taken over
    once stale)."""
    from .services.billing_run import run_chunk

    return run_chunk(chunk_id, actor=Actor.system(BILLING_ACTOR), cash_source=billing_cash_source())


@shared_task(name="invoices.tasks.billing_run_resume")
def billing_run_resume() -> dict:
    """Beat, every 5 minutes: hand out again the chunks of unfinished runs that no worker finished (a lost
    message, a killed worker), and retry the failed customers whose back-off is over."""
    from .services.billing_run import retry_failures, stale_chunks

    chunks = stale_chunks()
    for chunk_id in chunks:
        bill_billing_chunk.delay(chunk_id)
    retried = retry_failures(actor=Actor.system(BILLING_ACTOR), cash_source=billing_cash_source())
    return {"chunks": len(chunks), **retried}


@shared_task(name="invoices.tasks.email_invoices", acks_late=True)
def email_invoices(notification_ids: list[int]) -> dict:
    """The billing run's emails, one task per chunk: each delivered on its own (invoice_email_deliver: a
    notification no longer queued is skipped, so a redelivered task sends nothing twice)."""
    from .services.delivery import invoice_email_deliver

    actor = Actor.system("invoice-email")
    counts: dict[str, int] = {}
    for pk in notification_ids:
        status = invoice_email_deliver(notification_id=pk, actor=actor).status
        counts[status] = counts.get(status, 0) + 1
    return counts
