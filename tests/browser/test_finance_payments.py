"""Finance journeys in a real browser: record a payment, assign it, allocate it to two invoices and see them
paid; provision a top-up invoice and see the credits; read the aged receivables report."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import InvoiceSetup
from finance.models import Payment
from invoices.services import invoice_mark_sent
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice, top_up_invoice

pytestmark = pytest.mark.browser


def _accept_confirmations(page):
    page.on("dialog", lambda dialog: dialog.accept())


def test_record_assign_allocate_to_two_invoices_and_see_them_paid(staff_page):
    page = staff_page
    _accept_confirmations(page)
    cust = customer(name="Northwind Traders")
    first, second = purchase_invoice(cust, "40"), purchase_invoice(cust, "60.5")

    page.goto("/payments/")
    page.get_by_role("link", name="+ New payment").click()
    page.fill("input[name=amount]", "100.50")
    page.select_option("select[name=method]", "telegraphic_transfer")
    page.fill("input[name=reference]", "TT-BROWSER-1")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#payment-status")).to_have_text("Unassigned")
    pay = Payment.objects.get(reference="TT-BROWSER-1")

    page.click("#assign-pencil")
    expect(page.locator("#assign-form")).to_contain_text("5 of 5 assignment changes left")
    page.fill("#assign-form input[name=customer]", cust.code)
    page.click("#assign-button")
    expect(page.locator("#assigned-organization")).to_contain_text("Northwind Traders")
    expect(page.locator("#payment-status")).to_have_text("Unallocated")
    expect(page.locator("#assignment-changes-left")).to_contain_text("4 of 5")

    page.click("#allocate-pencil")
    expect(page.locator(f"input[name=amount-{first.pk}]")).to_have_value("40.00")
    page.check(f"#pick-{first.pk}")
    page.check(f"#pick-{second.pk}")
    preview = page.locator("#allocation-preview")
    expect(preview).to_contain_text(first.number)
    expect(preview).to_contain_text(second.number)
    expect(preview.locator(".badge-paid")).to_have_count(2)
    page.click("#allocate-submit")

    expect(page).to_have_url(re.compile(rf"/payments/{pay.pk}/$"))
    expect(page.locator("#payment-status")).to_have_text("Allocated")
    for invoice in (first, second):
        row = page.locator("#allocations tr", has_text=invoice.number)
        expect(row.locator(".badge-paid")).to_have_text("Paid")
    assert page.console_errors == []


def test_provision_a_top_up_invoice_and_see_the_credits(staff_page):
    page = staff_page
    _accept_confirmations(page)
    cust = customer(InvoiceSetup.CONSOLIDATED, name="Contoso Telecom")
    invoice = top_up_invoice(cust, "100")
    pay = payment(cust, "150")

    page.goto(f"/invoices/{invoice.pk}/")
    page.click("#action-more")
    page.get_by_role("menuitem", name="Payment").click()
    expect(page).to_have_url(re.compile(rf"/payments/for-invoice/{invoice.pk}/$"))
    expect(page.locator(f"#pay-{pay.pk}")).to_be_checked()
    expect(page.locator("input[name=amount]")).to_have_value("100.00")
    page.get_by_role("button", name="Assign & allocate").click()
    expect(page.locator("h1 .badge-provisioned")).to_have_text("Provisioned")
    expect(page.locator("h1 .badge-paid")).to_have_text("Paid")
    expect(page.locator("#invoice-outstanding")).to_have_text("0.00")

    page.goto(f"/payments/{pay.pk}/")
    expect(page.locator("#payment-status")).to_have_text("Partially allocated")
    figures = page.locator("dl.facts").nth(1)
    expect(figures).to_contain_text("Expecting invoice")
    expect(figures.locator("dd").nth(1)).to_contain_text("100.00")  # the credits, unbilled CR
    expect(figures.locator("dd").nth(1)).to_contain_text("CR")
    expect(page.locator("#top-ups")).to_contain_text(f"Top-up invoice {invoice.number}")
    assert page.console_errors == []


def test_aged_receivables_report(staff_page):
    page = staff_page
    cust = customer(name="Overdue Holdings")
    today = timezone.localdate()
    at = timezone.now() - dt.timedelta(days=50)
    purchase_invoice(cust, "70", issue_date=today - dt.timedelta(days=50), due_date=today - dt.timedelta(days=40),
                     at=at)
    purchase_invoice(cust, "25", issue_date=today, due_date=today + dt.timedelta(days=30))

    page.goto("/reports/")
    page.click("#report-aged-receivables")
    row = page.locator("#aged-table tbody tr", has_text="Overdue Holdings")
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("25.00")  # current
    expect(cells.nth(3)).to_have_text("70.00")  # 31-60
    expect(cells.nth(6)).to_contain_text("95.00")  # total
    expect(page.locator("#aged-table tfoot")).to_contain_text("Total SGD")

    page.fill("input[name=as_of]", (today - dt.timedelta(days=45)).isoformat())
    page.get_by_role("button", name="Show").click()
    row = page.locator("#aged-table tbody tr", has_text="Overdue Holdings")
    expect(row.locator("td").nth(1)).to_have_text("70.00")  # not yet due then; the other not yet issued
    expect(row.locator("td").nth(6)).to_contain_text("70.00")
    assert page.console_errors == []


def test_aged_receivables_by_bucket_kept_in_the_url_and_the_csv(staff_page):
    page = staff_page
    today = timezone.localdate()
    old, recent = customer(name="Ancient Debts Ltd"), customer(name="Recent Buyer Ltd")
    purchase_invoice(old, "120", issue_date=today - dt.timedelta(days=130), due_date=today - dt.timedelta(days=100),
                     at=timezone.now() - dt.timedelta(days=130))
    purchase_invoice(recent, "30", issue_date=today - dt.timedelta(days=20), due_date=today - dt.timedelta(days=5),
                     at=timezone.now() - dt.timedelta(days=20))
    page.goto("/reports/aged-receivables/")
    rows = page.locator("#aged-table tbody tr")
    expect(rows).to_have_count(2)
    page.select_option("select[name=bucket]", "d90_plus")
    page.wait_for_url(re.compile(r"bucket=d90_plus"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ancient Debts Ltd")
    expect(page.locator("#aged-table tfoot")).to_contain_text("120.00")
    page.reload()
    expect(page.locator("select[name=bucket]")).to_have_value("d90_plus")
    expect(rows).to_have_count(1)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert "Ancient Debts Ltd" in text and "Recent Buyer Ltd" not in text
    page.select_option("select[name=bucket]", "d1_30")
    page.wait_for_url(re.compile(r"bucket=d1_30"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Recent Buyer Ltd")
    assert page.console_errors == []


@pytest.fixture
def aged_view_emptied_after():
    """A browser test commits: the view it refreshed is emptied again, so later tests rebuild today from rows."""
    yield
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW finance_agedreceivable WITH NO DATA")


def test_aged_receivables_refreshed_on_demand(staff_page, aged_view_emptied_after):
    page = staff_page
    today = timezone.localdate()
    purchase_invoice(customer(name="Early Holdings"), "40", issue_date=today, due_date=today)
    page.goto("/reports/aged-receivables/")
    expect(page.locator("#aged-as-of")).to_contain_text("Figures as of now")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#aged-as-of")).to_contain_text(re.compile(r"Figures as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00 \(refreshed"))  # the one time format
    purchase_invoice(customer(name="Later Holdings"), "15", issue_date=today, due_date=today)
    page.reload()  # read from the view as of its refresh: the later invoice is not in it yet
    expect(page.locator("#aged-table tbody")).to_contain_text("Early Holdings")
    expect(page.locator("#aged-table tbody")).not_to_contain_text("Later Holdings")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#aged-table tbody")).to_contain_text("Later Holdings")
    assert page.console_errors == []


def test_a_top_up_invoices_payment_page_shows_its_amount_due_and_only_payments_that_pay_it(staff_page):
    page = staff_page
    cust = customer(InvoiceSetup.CONSOLIDATED, name="Contoso Telecom")
    invoice = top_up_invoice(cust, "100", sent=False)
    small, enough = payment(cust, "60"), payment(cust, "150")

    page.goto(f"/payments/for-invoice/{invoice.pk}/")
    expect(page.locator("#invoice-outstanding")).to_have_text("100.00")  # a draft still asks for its total
    expect(page.get_by_text("is a draft: send it")).to_be_visible()

    invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
    page.reload()
    expect(page.locator("#invoice-outstanding")).to_have_text("100.00")
    expect(page.locator(f"#pay-{enough.pk}")).to_be_checked()
    expect(page.locator(f"#pay-{small.pk}")).to_have_count(0)
    assert page.console_errors == []
