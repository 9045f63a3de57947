"""A large statement imported by the real Celery worker, its progress reported through the result backend."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from banking.models import ImportJob, ImportJobState, StatementLine
from banking.services.imports import import_job_queue, import_job_run
from tests.banking.factories import bank_account, camt053
from tests.customers.factories import SYSTEM


def wait_for(job_id: int, timeout: float = 60) -> ImportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job_id)
        if job.state in (ImportJobState.DONE, ImportJobState.FAILED):
            return job
        time.sleep(0.2)
    raise AssertionError(f"import job {job_id} still {job.state} after {timeout} s")


@pytest.mark.celery
def test_the_worker_imports_a_large_file(celery_worker):
    account = bank_account()
    content = camt053([{"amount": f"{n + 1}.00", "e2e": f"E{n}", "text": f"line {n}"} for n in range(5000)])
    job = import_job_queue(account_id=account.pk, file_name="big.xml", content=content, actor=SYSTEM,
                           at=timezone.now())
    job = wait_for(job.pk)
    assert job.state == ImportJobState.DONE and job.task_id
    assert job.statement.lines_new == 5000 and StatementLine.objects.count() == 5000
    assert bytes(ImportJob.objects.get(pk=job.pk).content) == b""  # the file is not kept once read
    event = AuditEvent.objects.get(action="banking.statement.import")
    assert event.actor_label == SYSTEM.label


@pytest.mark.celery
def test_the_worker_refuses_a_bad_file_and_says_why(celery_worker):
    account = bank_account(currency="USD")
    job = import_job_queue(account_id=account.pk, file_name="sgd.xml", content=camt053([{"amount": "1.00"}]),
                           actor=SYSTEM, at=timezone.now())
    job = wait_for(job.pk)
    assert job.state == ImportJobState.FAILED and "the statement is in SGD" in job.error
    assert not StatementLine.objects.exists()


@pytest.mark.django_db
def test_a_job_delivered_twice_imports_once(django_capture_on_commit_callbacks):
    account = bank_account()
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_queue(account_id=account.pk, file_name="a.xml", content=camt053([{"amount": "1.00"}]),
                               actor=SYSTEM, at=timezone.now())
    seen = []
    first = import_job_run(job_id=job.pk, actor=SYSTEM, at=timezone.now(), progress=lambda d, t: seen.append((d, t)))
    second = import_job_run(job_id=job.pk, actor=SYSTEM, at=timezone.now())
    assert first.state == second.state == ImportJobState.DONE and first.statement_id == second.statement_id
    assert seen == [(1, 1)]
    assert AuditEvent.objects.filter(action="banking.statement.import").count() == 1
