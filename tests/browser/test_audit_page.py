"""The staff Audit page in a real browser: filters swap the table through HTMX and keep the URL, the diff
reads as before → after, pagination follows the filters, and the page raises no console error (CSP)."""

import datetime as dt

import pytest

from audit.actors import Actor
from tests.audit.helpers import record

pytestmark = pytest.mark.browser

T0 = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
ALICE = Actor(kind="staff", label="alice", user_id=5)


def _seed():
    for i in range(30):
        record(actor=ALICE, app="finance", action="finance.payment.record", object_type="finance.payment",
               object_id=i, customer_id=12 if i % 2 else 13, after={"amount": f"{i}.00"},
               at=T0 + dt.timedelta(hours=i))
    record(actor=Actor.system("billing-run"), app="invoices", action="invoices.invoice.send",
           object_type="invoices.invoice", object_id=7, customer_id=13, before={"status": "draft"},
           after={"status": "sent"}, at=T0 + dt.timedelta(days=5))


def _actions(page):
    return page.locator("#audit-events tbody tr td:nth-child(3) code").all_inner_texts()


def test_staff_filter_the_audit_trail(staff_page):
    page = staff_page
    _seed()
    page.click("nav.nav >> text=Audit")
    page.wait_for_url("**/audit/")
    assert page.locator("h1").inner_text() == "Audit"
    assert len(_actions(page)) == 25  # a full first page (the staff sign-in is an event too)

    page.select_option("select[name=app]", "invoices")
    page.wait_for_url("**/audit/?*app=invoices*")
    page.wait_for_function("document.querySelectorAll('#audit-events tbody tr').length === 1")
    assert _actions(page) == ["invoices.invoice.send"]
    row = page.locator("#audit-events tbody tr").first
    assert row.locator(".diff .del").inner_text() == "draft"
    assert row.locator(".diff .ins").inner_text() == "sent"
    assert "billing-run" in row.inner_text()

    page.select_option("select[name=app]", "finance")
    page.fill("input[name=customer]", "12")
    page.press("input[name=customer]", "Enter")  # a search box filters on Enter, not on blur
    page.wait_for_url("**/audit/?*customer=12*")
    page.wait_for_function("document.querySelectorAll('#audit-events tbody tr').length === 15")
    assert set(_actions(page)) == {"finance.payment.record"}

    # 2026-03-01 11:00 to 2026-03-02 in Singapore: hours 0..36 after T0, odd ones for customer 12
    page.fill("input[name=date_from]", "2026-03-01")
    page.fill("input[name=date_to]", "2026-03-01")
    page.dispatch_event("input[name=date_to]", "change")
    page.wait_for_url("**/audit/?*date_to=2026-03-01*")
    page.wait_for_function("document.querySelectorAll('#audit-events tbody tr').length === 6")
    times = page.locator("#audit-events time").all_inner_texts()
    assert all(t.startswith("2026-03-01") for t in times), times

    page.goto("/audit/?app=finance")
    assert "1–25 of 30" in page.locator("#audit-events .pagination").inner_text()
    page.click("#audit-events a[rel=next]")
    page.wait_for_url("**/audit/?app=finance&page=2")
    page.wait_for_function("document.querySelectorAll('#audit-events tbody tr').length === 5")
    assert page.locator("select[name=app]").input_value() == "finance"
    assert page.console_errors == []


def test_the_csv_export_link_follows_the_filters(staff_page):
    page = staff_page
    _seed()
    page.goto("/audit/")
    page.select_option("select[name=app]", "invoices")
    page.wait_for_url("**/audit/?*app=invoices*")
    href = page.locator("#audit-events a", has_text="Export CSV").get_attribute("href")
    assert "app=invoices" in href and "format=csv" in href
    with page.expect_download() as download:
        page.click("#audit-events a:has-text('Export CSV')")
    content = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert content[0].startswith("id,occurred_at_utc") and len(content) == 2
    assert page.console_errors == []


def test_amounts_read_as_money_is_shown_elsewhere_not_as_stored(staff_page):
    page = staff_page
    record(actor=ALICE, app="finance", action="finance.payment.update", object_type="finance.payment", object_id=1,
           customer_id=12, before={"amount": "1000.000000", "reference": "TT-1"},
           after={"amount": "1234.567800", "reference": "TT-2"}, at=T0)
    page.goto("/audit/?action=finance.payment.update")
    row = page.locator("#audit-events tbody tr").first
    amount = row.locator(".diff-row", has_text="amount")
    assert amount.locator(".del").inner_text() == "1,000.00"
    assert amount.locator(".ins").inner_text() == "1,234.5678"
    assert row.locator(".diff-row", has_text="reference").locator(".ins").inner_text() == "TT-2"
    assert "000000" not in row.inner_text()
    assert page.console_errors == []
