"""The expiry job for real: beat's entry names the task, a real Celery worker on the real Redis runs it, and
the reservations past their timeout are released (once, however often the task runs)."""

import datetime as dt
from decimal import Decimal

import pytest
from celery.beat import Scheduler
from django.conf import settings
from django.utils import timezone

from customers.models import Reservation, ReservationStatus
from customers.selectors import ledger_mismatches
from customers.services import reservation_reserve
from customers.tasks import expire_reservations
from tests.customers.factories import SYSTEM, postpaid

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]
TIMEOUT = 60


def test_beat_runs_the_expiry_every_minute():
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["expire-reservations"]
    assert entry["task"] == "customers.tasks.expire_reservations" == expire_reservations.name
    scheduler = Scheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    assert scheduler.schedule["expire-reservations"].schedule.run_every == dt.timedelta(seconds=60)


def test_the_worker_expires_the_overdue_reservations_once(celery_worker):
    customer = postpaid("100")
    past = timezone.now() - dt.timedelta(hours=1)
    overdue = [reservation_reserve(customer_id=customer.pk, amount=Decimal("10"), actor=SYSTEM, at=past,
                                   timeout_seconds=60) for _ in range(3)]
    live = reservation_reserve(customer_id=customer.pk, amount=Decimal("5"), actor=SYSTEM, at=timezone.now())

    first, second = expire_reservations.delay(), expire_reservations.delay()
    assert sorted([first.get(timeout=TIMEOUT), second.get(timeout=TIMEOUT)]) == [0, 3]

    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert all(statuses[r.pk] == ReservationStatus.EXPIRED for r in overdue)
    assert statuses[live.pk] == ReservationStatus.OPEN
    customer.refresh_from_db()
    assert customer.amount_reserved == Decimal("5")
    assert ledger_mismatches() == []
