"""Banking's Celery task: one service call. Delivery is at-least-once (acks_late); import_job_run is
idempotent (a job done or refused is left as it is)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from audit.actors import Actor

from .models import ImportJob


@shared_task(name="banking.tasks.statement_import_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def statement_import_job(self, job_id: int) -> dict:
    from .services.imports import import_job_run

    who = ImportJob.objects.filter(pk=job_id).values("created_by", "created_by_kind", "created_by_user_id").first()
    # The import is the uploader's, done by the worker on their behalf.
    actor = Actor(kind=who["created_by_kind"], label=who["created_by"], user_id=who["created_by_user_id"]) \
        if who else Actor.system("statement-import")

    def progress(done: int, total: int) -> None:
        # Celery's result backend (Redis), outside the import's transaction: the page polls it.
        if self.request.id:
            self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    job = import_job_run(job_id=job_id, actor=actor, at=timezone.now(),
                         progress=progress)
    return {"job": job.pk, "state": job.state, "statement": job.statement_id}
