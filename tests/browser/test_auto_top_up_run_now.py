"""Auto top-up runs, in Chromium: what today's run would do (the dry run: filters, pagination, CSV) and Run
now (Finance role), run by a real Celery worker."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from finance.models import AutoTopUp, AutoTopUpRun, TopUpMethod
from finance.tasks import daily_auto_top_up
from tests.finance.auto_top_up_support import customer_with, wait_finished, wallet

pytestmark = pytest.mark.browser


def test_see_what_todays_run_would_do(staff_page):
    page = staff_page
    wallet("10000")
    customer_with(TopUpMethod.MASTER_ACCOUNT, name="Acme Telecom", code="ACME", credits="0", trigger="120")
    customer_with(TopUpMethod.CHEQUE_TT, name="Bolt Networks", code="BOLT", credits="5", trigger="250")
    for i in range(26):
        customer_with(TopUpMethod.MASTER_ACCOUNT, name=f"Zulu {i:02}", code=f"ZULU{i:02}", credits="0")
    customer_with(TopUpMethod.MASTER_ACCOUNT, name="Rich Corp", code="RICH", credits="900")

    page.goto("/auto-top-up/runs/")
    page.click("#dry-run-link")
    expect(page.locator("h1")).to_have_text("What today's run would do")
    expect(page.locator('[data-dry-run="candidates"] .value')).to_have_text("28")
    expect(page.locator('[data-dry-run="skipped_above_threshold"] .value')).to_have_text("1")
    expect(page.locator('#dry-run-totals [data-method="cheque_tt"]')).to_contain_text("250.00 SGD")
    table = page.locator("#dry-run-table")
    expect(table).to_contain_text("28 organizations would be topped up")
    expect(table.locator("tbody tr").first).to_contain_text("Acme Telecom")
    expect(table.locator("tbody tr").first).to_contain_text("120.00 SGD")
    expect(table.locator("tbody tr")).to_have_count(25)
    table.get_by_role("link", name="Next ›").click()
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).not_to_contain_text("Rich Corp")

    page.select_option("select[name=method]", "cheque_tt")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_contain_text("Bolt Networks")
    expect(table.locator("tbody tr")).to_contain_text("A top-up invoice is issued and sent")
    expect(page).to_have_url(re.compile(r"method=cheque_tt"))
    expect(table.get_by_role("link", name="Export CSV")).to_have_attribute("href", re.compile(r"method=cheque_tt.*format=csv"))
    assert not AutoTopUpRun.objects.exists() and not AutoTopUp.objects.exists()  # a dry run writes nothing
    assert page.console_errors == []


def test_run_now_queues_todays_run_and_a_worker_runs_it(staff_page, celery_worker):
    page = staff_page
    page.on("dialog", lambda dialog: dialog.accept())
    wallet("10000")
    for i in range(3):
        customer_with(TopUpMethod.MASTER_ACCOUNT, name=f"Due {i}", credits="0", trigger="40")

    page.goto("/auto-top-up/runs/")
    page.click("#run-now")
    expect(page.locator(".toast")).to_contain_text("of today's auto top-up queued")
    run = AutoTopUpRun.objects.get()
    daily_auto_top_up.AsyncResult(run.task_id).get(timeout=120)  # the run begun, its chunk sent
    wait_finished(run.pk)  # the worker's chunk finished it
    page.reload()
    row = page.locator(f'[data-run-id="{run.pk}"]')
    expect(row).to_contain_text("Staff")
    expect(row.locator("td").nth(4)).to_have_text("3")  # fired
    expect(page.locator('[data-total="fired"] .value')).to_have_text("3")
    assert AutoTopUp.objects.filter(status="fired").count() == 3
    assert page.console_errors == []


def test_run_now_sent_twice_queues_one_run(staff_page):
    page = staff_page
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/auto-top-up/runs/")
    form = page.locator("#run-now-form")
    token = form.locator("input[name=form_token]").input_value()
    csrf = form.locator("input[name=csrfmiddlewaretoken]").input_value()
    page.click("#run-now")
    expect(page.locator(".toast")).to_contain_text("of today's auto top-up queued")
    run = AutoTopUpRun.objects.get()
    AutoTopUpRun.objects.filter(pk=run.pk).update(started_at=run.requested_at, finished_at=run.requested_at)
    again = page.request.post("/auto-top-up/run-now/", form={"csrfmiddlewaretoken": csrf, "form_token": token},
                              headers={"Referer": page.url})
    assert again.ok and again.url.endswith(f"?date={run.run_date.isoformat()}")
    assert AutoTopUpRun.objects.count() == 1
    page.goto("/auto-top-up/runs/")
    expect(page.locator("[data-run-id]")).to_have_count(1)
    assert page.console_errors == []
