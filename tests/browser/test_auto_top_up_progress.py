"""A run of the daily auto top-up under way, in Chromium: the runs page shows its progress and htmx polls it
live (customers done / to do, topped up, failures waiting to retry) while the chunks are handled, until the
run finishes and the polling stops."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from finance.models import TopUpMethod
from finance.services import auto_top_up as service
from tests.finance.auto_top_up_support import RUN_DATE, SYSTEM, customer_with, wallet

pytestmark = pytest.mark.browser


def test_the_runs_page_follows_a_run_until_it_finishes(staff_page, settings, monkeypatch):
    page = staff_page
    settings.LEDGERDESK_AUTO_TOP_UP_RETRY_BACKOFF = (0,)
    wallet("10000")
    customers = [customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", trigger="10") for _ in range(6)]
    customer_with(TopUpMethod.MASTER_ACCOUNT, credits="900")  # above its threshold: skipped by the set-based pass
    real = service.master_wallet_transfer
    failing = {customers[4].pk}

    def transfer(**kwargs):  # customers[4]'s first attempt meets an unexpected error
        if kwargs["customer_id"] in failing:
            failing.clear()
            raise RuntimeError("connection reset while transferring")
        return real(**kwargs)

    monkeypatch.setattr(service, "master_wallet_transfer", transfer)
    begun = service.auto_top_up_run_begin(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False, chunk_size=3)
    first, second = begun.chunk_ids

    page.goto(f"/auto-top-up/runs/?date={RUN_DATE.isoformat()}")
    progress = page.locator(f"#run-progress-{begun.run.pk}")
    expect(progress).to_contain_text("Running")
    expect(progress.locator('[data-figure="to-do"]')).to_have_text("7")
    expect(progress.locator('[data-figure="done"]')).to_have_text("1")  # the skip, logged at the start

    service.auto_top_up_run_chunk(chunk_id=first, actor=SYSTEM, email_via_celery=False)
    expect(progress.locator('[data-figure="done"]')).to_have_text("4")  # the page asked again by itself
    expect(progress.locator('[data-figure="fired"]')).to_have_text("3")

    assert service.auto_top_up_run_chunk(chunk_id=second, actor=SYSTEM, email_via_celery=False).state == "retry"
    expect(progress.locator('[data-figure="retrying"]')).to_contain_text("1 waiting to retry")
    expect(progress.locator('[data-figure="retrying"]')).to_contain_text("RuntimeError: connection reset")

    assert service.auto_top_up_run_chunk(chunk_id=second, actor=SYSTEM, email_via_celery=False).run_finished
    expect(progress).to_have_attribute("data-finished", "true")
    expect(progress).to_contain_text("Finished")
    expect(progress.locator('[data-figure="fired"]')).to_have_text("6")
    expect(progress.locator('[data-figure="failed"]')).to_have_text("0")
    expect(progress).not_to_have_attribute("hx-trigger", "every 2s")  # the polling stopped
    progress.get_by_role("link", name="Show its decisions").click()
    expect(page.locator("#decision-table")).to_contain_text("Fired")
    assert page.console_errors == []

