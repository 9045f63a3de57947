"""Run now on a real Celery worker (tests/conftest.py `celery_worker`, on the real Redis): staff's request
queues today's run, the worker starts that very run with the daily task, each due customer is topped up once;
asking again once it has finished runs again and tops up nobody twice."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from audit.models import AuditEvent
from finance.models import AutoTopUp, AutoTopUpRun, AutoTopUpTrigger, TopUpMethod
from finance.tasks import daily_auto_top_up
from tests.finance.auto_top_up_support import RUN_DATE, at_six, customer_with, wait_finished, wallet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]
TIMEOUT = 120


def test_run_now_runs_todays_job_on_the_worker_once_per_customer(celery_worker, finance_client):
    wallet("10000")
    due = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="40") for _ in range(5)]
    above = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="500")
    with time_machine.travel(at_six(), tick=True):
        response = finance_client.post(reverse("finance:auto-top-up-run-now"))
        assert response.status_code == 302
        run = AutoTopUpRun.objects.get()
        result = daily_auto_top_up.AsyncResult(run.task_id).get(timeout=TIMEOUT)
        run = wait_finished(run.pk, TIMEOUT)
        assert result["run"] == run.pk and result["run_date"] == RUN_DATE.isoformat()
        assert (run.trigger, run.actor_label, run.fired_count, run.skipped_count) == (
            AutoTopUpTrigger.STAFF, "finance", 5, 1)
        assert run.requested_at <= run.started_at <= run.finished_at
        assert sorted(AutoTopUp.objects.filter(run_date=RUN_DATE).values_list("customer_id", flat=True)) == sorted(
            c.pk for c in due)
        assert not AutoTopUp.objects.filter(customer=above).exists()
        assert AuditEvent.objects.filter(action="finance.auto_top_up.run_now").count() == 1

        finance_client.post(reverse("finance:auto-top-up-run-now"))  # the first one has finished: a new run
        second = AutoTopUpRun.objects.exclude(pk=run.pk).get()
        daily_auto_top_up.AsyncResult(second.task_id).get(timeout=TIMEOUT)
        second = wait_finished(second.pk, TIMEOUT)
        assert (second.fired_count, second.skipped_count) == (0, 6)
        assert AutoTopUp.objects.filter(run_date=RUN_DATE).count() == 5  # nobody topped up twice
