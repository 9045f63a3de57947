"""The monthly billing runs pages, in Chromium: the list (search, filters, pagination, CSV) and a run shown live
while workers bill its chunks (the progress panel polls itself with htmx), with the customer that failed."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from finance.services.billing import PAYMENT_CASH
from invoices.models import BillingRun, InvoiceLine, InvoiceLineEntry
from invoices.services.billing_run import billing_run_start, run_chunk
from tests.customers.factories import CustomerFactory
from tests.invoices.factories import SYSTEM, purchase_invoice, usage

pytestmark = pytest.mark.browser

SGT = ZoneInfo("Asia/Singapore")
IN_FEB = dt.datetime(2026, 2, 10, 9, 0, tzinfo=SGT)
DAY1 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=SGT)


def test_watch_a_run_bill_its_chunks_and_see_the_customer_that_failed(staff_page):
    page = staff_page
    for i in range(5):
        usage(CustomerFactory(code=f"OK{i}", name=f"Okay {i}"), "3", at=IN_FEB)
    broken = CustomerFactory(code="BRKN", name="Broken Telecom")
    entry = usage(broken, "9", at=IN_FEB)
    InvoiceLineEntry.objects.create(line=InvoiceLine.objects.filter(invoice=purchase_invoice(CustomerFactory())).first(),
                                    transaction=entry)  # already linked elsewhere: billing it is refused
    run = billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, at=DAY1, chunk_size=2)

    page.goto("/invoices/")
    page.click("#billing-runs-link")
    expect(page.locator("h1")).to_have_text("Monthly billing runs")
    row = page.locator(f'tr[data-run="{run.pk}"]')
    expect(row).to_contain_text("February 2026")
    expect(row).to_contain_text("0 / 6")
    expect(row).to_contain_text("Running")
    row.get_by_role("link", name=f"#{run.pk}").click()

    progress = page.locator("#run-progress")
    expect(progress.locator('[data-figure="done"] .value')).to_have_text("0 / 6")
    expect(progress.locator('[data-state="running"]')).to_be_visible()
    chunks = list(run.chunks.order_by("seq").values_list("pk", flat=True))
    run_chunk(chunks[0], actor=SYSTEM, cash_source=PAYMENT_CASH, send_email=False)  # a worker bills a chunk
    expect(progress.locator('[data-figure="done"] .value')).to_have_text("2 / 6", timeout=8000)  # no reload: htmx
    expect(progress.locator('[data-figure="invoiced"] .value')).to_have_text("2")
    for pk in chunks[1:]:
        run_chunk(pk, actor=SYSTEM, cash_source=PAYMENT_CASH, send_email=False)
    expect(progress.locator('[data-state="finished"]')).to_be_visible(timeout=8000)
    expect(progress.locator('[data-figure="done"] .value')).to_have_text("6 / 6")
    expect(progress.locator('[data-figure="invoiced"] .value')).to_have_text("5")
    expect(progress.locator('[data-figure="failed"] .value')).to_have_text("1")
    assert progress.get_attribute("hx-trigger") is None  # a finished run stops polling

    page.reload()  # the failures list is not polled: it shows on the next load
    failures = page.locator("#failure-table")
    expect(failures.locator('tr[data-failure="BRKN"]')).to_contain_text("Broken Telecom")
    expect(failures.locator('tr[data-failure="BRKN"]')).to_contain_text("1")
    page.select_option("select[name=state]", "resolved")
    expect(failures).to_contain_text("No failed customers match these filters")
    page.select_option("select[name=state]", "retrying")
    expect(failures.locator("tbody tr")).to_have_count(1)
    expect(failures.get_by_role("link", name="Export CSV")).to_have_attribute("href", re.compile(r"state=retrying.*format=csv"))
    assert page.console_errors == []


def test_the_list_searches_filters_pages_and_exports(staff_page):
    page = staff_page
    usage(CustomerFactory(code="ONE"), "3", at=IN_FEB)
    first = billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, at=DAY1)
    for chunk in first.chunks.all():
        run_chunk(chunk.pk, actor=SYSTEM, cash_source=PAYMENT_CASH, send_email=False)
    for h in range(1, 27):  # nothing left to bill: each finishes at once
        billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, at=DAY1 + dt.timedelta(hours=h))
    january = billing_run_start(period="2026-01", trigger="command", actor=SYSTEM, at=DAY1)

    page.goto("/invoices/billing-runs/")
    table = page.locator("#run-table")
    expect(table).to_contain_text("28 runs")
    expect(table.locator("tbody tr")).to_have_count(25)
    table.get_by_role("link", name="Next ›").click()
    expect(table.locator("tbody tr")).to_have_count(3)

    page.fill("input[name=q]", "2026-01")
    page.press("input[name=q]", "Enter")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(f'tr[data-run="{january.pk}"]')).to_contain_text("January 2026")
    expect(page).to_have_url(re.compile(r"q=2026-01"))
    page.goto("/invoices/billing-runs/?state=running&trigger=beat")
    expect(table).to_contain_text("0 runs")
    page.goto("/invoices/billing-runs/?state=finished&trigger=beat")
    expect(table).to_contain_text("27 runs")
    page.goto("/invoices/billing-runs/?started_from=2026-03-02&started_to=2026-03-01")
    expect(table).to_contain_text("0 runs")
    assert BillingRun.objects.count() == 28
    assert page.console_errors == []
