"""Celery tasks: each validates its input and makes one service call (the beat schedule is in settings).
The monthly billing run's tasks are finance's (finance.tasks.billing_run_start, bill_billing_chunk,
billing_run_resume): the run pays the new invoices with payments' unallocated cash, which only finance has;
its emails are sent from here (email_invoices)."""

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
