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
