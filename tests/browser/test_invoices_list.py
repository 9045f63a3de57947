"""Browser: the invoice list's filters, search, sort and customer chip (HTMX swaps the table)."""

import datetime as dt

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def invoices(transactional_db):
    from tests.customers.factories import CustomerFactory
    from tests.invoices.factories import purchase_invoice, top_up_invoice

    acme = CustomerFactory(name="Acme Pte Ltd", code="ACME")
    globex = CustomerFactory(name="Globex Corp", code="GLOBEX")
    return {
        "a": top_up_invoice(acme, "100", issue_date=dt.date(2026, 1, 5)),
        "b": top_up_invoice(globex, "300", sent=True, issue_date=dt.date(2026, 2, 10)),
        "c": purchase_invoice(acme, sent=True, issue_date=dt.date(2026, 3, 15)),
        "acme": acme,
    }


def rows(page):
    return page.locator("#invoice-table tbody tr")


def shown(page, *invoices):
    expect(rows(page)).to_have_count(len(invoices))
    for i, invoice in enumerate(invoices):
        expect(rows(page).nth(i)).to_have_attribute("data-invoice", invoice.number)


def test_filters_search_and_sort(staff_page, invoices):
    page = staff_page
    a, b, c = invoices["a"], invoices["b"], invoices["c"]
    page.goto("/invoices/")
    shown(page, c, b, a)

    page.select_option("#id_type", "top_up")
    shown(page, b, a)
    assert "type=top_up" in page.url  # the filters are in the address, so the view can be shared

    page.select_option("#id_status", "sent")
    shown(page, b)

    page.select_option("#id_type", "")
    page.select_option("#id_status", "")
    page.fill("#id_issued_from", "2026-01-01")
    page.fill("#id_issued_to", "2026-02-28")
    page.get_by_role("button", name="Filter").click()
    shown(page, b, a)

    page.get_by_role("link", name="Clear").click()
    page.fill("#id_q", "globex")
    page.get_by_role("button", name="Filter").click()
    shown(page, b)

    page.fill("#id_q", "")
    page.get_by_role("button", name="Filter").click()
    shown(page, c, b, a)
    page.get_by_role("link", name="Total").click()
    shown(page, a, c, b)
    page.get_by_role("link", name="Total").click()
    shown(page, b, c, a)
    page.get_by_role("link", name="Total").click()
    shown(page, a, c, b)
    page.select_option("#id_type", "top_up")  # a filter keeps the chosen sort (newest first would be b, a)
    shown(page, a, b)
    assert page.console_errors == []


def test_the_customer_chip_filters_and_clears(staff_page, invoices):
    page = staff_page
    page.goto(f"/invoices/?customer={invoices['acme'].pk}")
    shown(page, invoices["c"], invoices["a"])
    expect(page.locator("#customer-filter")).to_contain_text("Acme Pte Ltd")
    page.get_by_role("link", name="Show every customer's invoices").click()
    shown(page, invoices["c"], invoices["b"], invoices["a"])
    assert page.console_errors == []
