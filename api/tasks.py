from celery import shared_task

from common.idempotency import purge_expired


@shared_task(name="api.tasks.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Hourly (CELERY_BEAT_SCHEDULE): forget Idempotency-Key replies older than 24 h."""
    return purge_expired()
