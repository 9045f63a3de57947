"""The scheduled jobs for real: beat's entries name the tasks, and a real Celery worker on the real Redis
runs the monthly billing run (fanned out in chunks), the renewals and the invoice emails."""

import datetime as dt
from decimal import Decimal

import pytest
from celery.beat import Scheduler
from celery.contrib.testing.tasks import ping  # registered before the session's worker starts
from django.conf import settings
from django.core import mail
from django.utils import timezone

from customers.models import InvoiceSetup, Notification
from customers.selectors import ledger_mismatches
from finance import tasks as finance_tasks
from invoices import tasks
from invoices.models import Invoice, InvoiceType
from invoices.services.billing import previous_period
from tests.customers.factories import CustomerFactory, SubscriptionFactory
from tests.invoices.factories import usage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]
TIMEOUT = 60


def drain():
    """Wait until the worker (one task at a time, in order) has run everything queued so far, and what
    those tasks queued in turn (the emails)."""
    for _ in range(2):
        assert ping.delay().get(timeout=TIMEOUT) == "pong"


def test_beat_runs_the_billing_on_days_1_to_3_and_the_renewals_daily():
    from config.celery import app

    billing = settings.CELERY_BEAT_SCHEDULE["monthly-billing-run"]
    renewals = settings.CELERY_BEAT_SCHEDULE["renew-subscriptions"]
    assert billing["task"] == finance_tasks.billing_run_start.name == "finance.tasks.billing_run_start"
    assert renewals["task"] == tasks.renew_subscriptions.name == "invoices.tasks.renew_subscriptions"
    scheduler = Scheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    monthly = scheduler.schedule["monthly-billing-run"].schedule
    assert (monthly.day_of_month, monthly.hour, monthly.minute) == ({1, 2, 3}, {1}, {0})
    daily = scheduler.schedule["renew-subscriptions"].schedule
    assert (daily.hour, daily.minute, len(daily.day_of_month)) == ({0}, {30}, 31)


def test_the_worker_bills_a_run_in_chunks_once_and_emails_each_chunk(celery_worker, monkeypatch):
    from invoices.models import BillingRun
    from invoices.services import billing_run

    monkeypatch.setattr(billing_run, "CHUNK_SIZE", 2)  # three customers: two chunks
    period = previous_period(timezone.now())
    in_period = dt.datetime.combine(period + dt.timedelta(days=9), dt.time(12), tzinfo=dt.UTC)
    customers = [CustomerFactory(invoice_setup=setup) for setup in
                 (InvoiceSetup.INDIVIDUAL, InvoiceSetup.CONSOLIDATED, InvoiceSetup.INDIVIDUAL, InvoiceSetup.NONE)]
    for c in customers:
        usage(c, "4.5", at=in_period)

    first = finance_tasks.billing_run_start.delay().get(timeout=TIMEOUT)
    drain()
    second = finance_tasks.billing_run_start.delay().get(timeout=TIMEOUT)  # day 2: nothing left
    drain()

    assert (first["customers"], first["chunks"], second["customers"], second["chunks"]) == (3, 2, 0, 0)
    run = BillingRun.objects.get(pk=first["run"])
    assert run.finished_at is not None and billing_run.run_progress(run)["invoices_issued"] == 3
    monthly = Invoice.objects.filter(type=InvoiceType.MONTHLY, period_start=period)
    assert sorted(monthly.values_list("customer_id", flat=True)) == sorted(c.pk for c in customers[:3])
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.billing_email for c in customers[:3])
    assert ledger_mismatches() == []


def test_the_worker_renews_the_subscriptions_due(celery_worker):
    customer = CustomerFactory()
    sub = SubscriptionFactory(customer=customer, renewal_date=dt.date(2026, 4, 1), renewal_price=Decimal("30"))
    assert tasks.renew_subscriptions.delay("2026-04-01").get(timeout=TIMEOUT) == {
        "date": "2026-04-01", "renewed": 1, "failed": []}
    assert tasks.renew_subscriptions.delay("2026-04-01").get(timeout=TIMEOUT)["renewed"] == 0
    drain()
    sub.refresh_from_db()
    assert sub.renewal_date == dt.date(2026, 5, 1)
    (invoice,) = Invoice.objects.filter(customer=customer)
    assert invoice.total == Decimal("32.7") and invoice.emailed_at is not None
