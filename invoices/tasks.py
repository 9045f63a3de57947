"""Celery tasks: each validates its input and makes one service call (the beat schedule is in settings)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from audit.actors import Actor

BILLING_CHUNK = 500


@shared_task(name="invoices.tasks.monthly_billing_run")
def monthly_billing_run(period: str | None = None) -> dict:
    """Beat, the 1st of the month: find the period's candidates (one query) and hand them to workers in
    chunks; every chunk bills its customers one short transaction each (idempotent, so a redelivered
    chunk or a second beat bills nothing twice)."""
    from .selectors import billing_candidates
    from .services.billing import parse_period, previous_period

    month = parse_period(period) if period else previous_period(timezone.now())
    ids = billing_candidates(month)
    for i in range(0, len(ids), BILLING_CHUNK):
        bill_customers.delay(f"{month:%Y-%m}", ids[i:i + BILLING_CHUNK])
    return {"period": f"{month:%Y-%m}", "customers": len(ids), "chunks": -(-len(ids) // BILLING_CHUNK)}


@shared_task(name="invoices.tasks.bill_customers")
def bill_customers(period: str, customer_ids: list[int]) -> dict:
    from .services.billing import monthly_billing_run as run

    result = run(period=period, customer_ids=customer_ids, actor=Actor.system("monthly-billing-run"))
    return {"period": period, "invoiced": len(result.invoiced), "nothing_to_bill": result.nothing_to_bill,
            "failed": result.failed}


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
