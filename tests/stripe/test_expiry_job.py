"""The expiry of stale Checkout payments as it runs in production: beat's "expire-card-payments" entry
sends finance.tasks.expire_card_payments every 15 minutes, and a real Celery worker on the real Redis runs
it against the fake Stripe (issue 19 #4)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from celery.beat import Scheduler
from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from finance.models import CardPayment, CardPaymentStatus
from finance.tasks import expire_card_payments
from tests.stripe.helpers import start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]
TIMEOUT = 60


def _beat() -> Scheduler:
    from config.celery import app

    scheduler = Scheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    for name in list(scheduler.schedule):
        if name != "expire-card-payments":
            del scheduler.schedule[name]
    return scheduler


def test_beat_sends_the_expiry_every_quarter_hour_and_the_worker_expires_stale_payments(
        celery_worker, fake_stripe, individual, consolidated):
    entry = settings.CELERY_BEAT_SCHEDULE["expire-card-payments"]
    assert entry["task"] == expire_card_payments.name == "finance.tasks.expire_card_payments"
    stale, fresh = start(individual, "30"), start(consolidated, "40")
    now = timezone.now()
    CardPayment.objects.filter(pk=stale.pk).update(expires_at=now - dt.timedelta(minutes=1))  # opened 24 h ago

    quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + dt.timedelta(minutes=15)
    sent = []
    original = expire_card_payments.apply_async

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        sent.append(result)
        return result

    with time_machine.travel(quarter - dt.timedelta(seconds=10), tick=False) as clock:
        beat = _beat()
        beat.tick()
        expire_card_payments.apply_async = recording
        try:
            beat.tick()
            assert sent == []  # not yet
            clock.move_to(quarter + dt.timedelta(seconds=5))
            beat.tick()
            beat.tick()  # twice in the same quarter: sent once
        finally:
            del expire_card_payments.apply_async
    assert len(sent) == 1
    assert sent[0].get(timeout=TIMEOUT) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == CardPaymentStatus.EXPIRED and fresh.status == CardPaymentStatus.PENDING
    assert fake_stripe.get(stale.checkout_session_id)["status"] == "expired"
    assert fake_stripe.get(fresh.checkout_session_id)["status"] == "open"
    (event,) = AuditEvent.objects.filter(action="finance.card_payment.expire")
    assert event.object_id == str(stale.pk) and event.actor_label == "card-payment-expiry"
    assert expire_card_payments.delay().get(timeout=TIMEOUT) == 0  # run again: nothing more
