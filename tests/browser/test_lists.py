"""The staff lists in a real browser (common.filters, common.lists): date filters' errors (issue 23, defect
5), and the shared list machinery: sortable columns, the page size, the totals per currency, all kept in the
URL."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.finance.factories import customer, payment

pytestmark = pytest.mark.browser

TODAY = timezone.localdate()


def test_a_reversed_date_range_on_the_payment_list_shows_its_error_and_no_payments(staff_page):
    page = staff_page
    acme = customer(name="Acme Pte Ltd")
    payment(acme, "10", reference="TT-WEEK-AGO", received_date=TODAY - dt.timedelta(days=7))
    payment(acme, "20", reference="TT-TODAY")

    page.goto("/payments/")
    expect(page.locator("#payment-table")).to_contain_text("TT-WEEK-AGO")
    page.fill("#id_received_from", TODAY.isoformat())
    page.dispatch_event("#id_received_from", "change")
    page.wait_for_url(re.compile(r"received_from="))
    expect(page.locator("#payment-table")).to_contain_text("TT-TODAY")
    expect(page.locator("#payment-table")).not_to_contain_text("TT-WEEK-AGO")

    page.fill("#id_received_to", (TODAY - dt.timedelta(days=1)).isoformat())
    page.dispatch_event("#id_received_to", "change")
    page.wait_for_url(re.compile(r"received_to="))
    table = page.locator("#payment-table")
    expect(table.get_by_role("alert")).to_contain_text("Received to: The end date is before the start date.")
    expect(table).to_contain_text("No payments match.")
    expect(table).not_to_contain_text("TT-TODAY")

    page.reload()  # the URL keeps the filters: the same error, the same empty list
    expect(page.locator("#payment-table").get_by_role("alert")).to_contain_text("The end date is before")
    expect(page.locator("#payment-table")).to_contain_text("No payments match.")


def test_sort_page_size_and_totals_stay_in_the_url_through_a_filter_and_a_reload(staff_page):
    page = staff_page
    sgd, usd = customer(name="Acme Pte Ltd", code="ACME"), customer(name="Yankee Inc", code="YANK", currency="USD")
    for i in range(30):
        payment(sgd, str(i + 1), reference=f"TT-{i + 1:02d}", received_date=TODAY - dt.timedelta(days=i))
    payment(usd, "1000", reference="US-BIG")
    rows = page.locator("#payment-table tbody tr")

    page.goto("/payments/")
    expect(rows).to_have_count(25)
    totals = page.locator("#list-totals")
    expect(totals.locator("[data-currency=SGD]")).to_contain_text("465.00")  # 1 + 2 + ... + 30
    expect(totals.locator("[data-currency=USD]")).to_contain_text("1,000.00")

    page.click("#payment-table th a[data-sort=amount]")  # ascending
    page.wait_for_url(re.compile(r"sort=amount"))
    expect(rows.first).to_contain_text("TT-01")
    page.click("#payment-table th a[data-sort=amount]")  # descending
    page.wait_for_url(re.compile(r"sort=-amount"))
    expect(rows.first).to_contain_text("US-BIG")
    expect(page.locator("#payment-table th[aria-sort=descending]")).to_contain_text("Amount")

    page.click("#payment-table .page-size a[data-per-page='50']")
    page.wait_for_url(re.compile(r"per_page=50"))
    expect(rows).to_have_count(31)
    expect(page.locator(".page-size strong[aria-current=true]")).to_have_text("50")

    page.fill("#id_customer", sgd.code)  # a filter keeps the sort and the page size
    page.press("#id_customer", "Enter")
    page.wait_for_url(re.compile(rf"customer={sgd.code}"))
    assert "sort=-amount" in page.url and "per_page=50" in page.url
    expect(rows).to_have_count(30)
    expect(rows.first).to_contain_text("TT-30")
    expect(totals.locator("[data-currency=USD]")).to_have_count(0)
    expect(page.locator("#list-totals [data-currency=SGD]")).to_contain_text("465.00")

    shared = page.url
    page.goto("/")
    page.goto(shared)  # the URL is the whole view: bookmarked or shared, it opens the same list
    expect(rows).to_have_count(30)
    expect(rows.first).to_contain_text("TT-30")
    expect(page.locator("#payment-table th[aria-sort=descending]")).to_contain_text("Amount")
    expect(page.locator(".page-size strong[aria-current=true]")).to_have_text("50")
    expect(page.locator("#id_customer")).to_have_value(sgd.code)
