"""Celery tasks: one service call each."""

from celery import shared_task
from django.utils import timezone

from audit.actors import Actor

from .services import expire_due_reservations


@shared_task(name="customers.tasks.expire_reservations")
def expire_reservations() -> int:
    """Beat, every minute: release the reservations past their timeout."""
    return expire_due_reservations(now=timezone.now(), actor=Actor.system("expire-reservations"))
