"""The customer list in a real browser: search and filters swap the table (htmx), pagination, the way in to
a customer, and no console errors (the CSP forbids inline script and style)."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from customers.models import InvoiceSetup, TransactionKind
from tests.customers.factories import ledger_post, postpaid, prepaid

pytestmark = pytest.mark.browser


def test_search_filter_paginate_and_open_a_customer(staff_page):
    page = staff_page
    for i in range(30):
        prepaid(code=f"BULK{i:02d}", name=f"Bulk Customer {i:02d}")
    acme = postpaid("500", code="ACME", name="Acme Pte Ltd", invoice_setup=InvoiceSetup.CONSOLIDATED)
    ledger_post(acme, TransactionKind.CALL, Decimal("-12.5"))

    page.goto("/customers/")
    assert page.locator("h1").inner_text() == "Customers"
    assert page.locator("#customer-count").inner_text() == "31 customers"
    assert page.locator("#customer-table tbody tr").count() == 25

    page.locator("#customer-table a[rel=next]").click()
    page.wait_for_url("**/customers/?page=2")
    assert page.locator("#customer-table tbody tr").count() == 6

    page.fill("#id_q", "acme")
    page.locator("#id_q").press("Enter")
    expect(page.locator("#customer-count")).to_have_text("1 customer")
    row = page.locator("tr[data-customer=ACME]")
    assert "-12.50 DR" in row.inner_text() and "SGD" in row.inner_text()
    assert row.locator(".amount.dr").count() >= 1

    page.fill("#id_q", "")
    page.locator("#id_q").press("Enter")
    expect(page.locator("#customer-count")).to_have_text("31 customers")
    page.select_option("#id_account_type", "postpaid")
    expect(page.locator("#customer-count")).to_have_text("1 customer")
    expect(page).to_have_url(re.compile(r"account_type=postpaid"))

    page.locator("tr[data-customer=ACME] a").first.click()
    page.wait_for_url(f"**/customers/{acme.pk}/")
    assert "Acme Pte Ltd" in page.locator("h1").inner_text()
    assert page.console_errors == []


def test_the_csv_export_downloads_the_filtered_list(staff_page):
    page = staff_page
    prepaid(code="ONE", name="One")
    prepaid(code="TWO", name="Two")
    page.goto("/customers/?q=two")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    text = open(download.value.path(), encoding="utf-8").read()
    assert "TWO" in text and "ONE" not in text
    assert page.console_errors == []
