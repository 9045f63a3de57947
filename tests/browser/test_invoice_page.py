"""Browser journey of the invoice page as finance sees it: allocate a payment from the invoice, see it in the
one section of money applied and in the history, undo it from there; the ledger entries read as one charge."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from finance.services.credit_notes import credit_note_issue
from invoices.services import PurchaseLine, invoice_create_purchase, invoice_mark_sent
from tests.finance.factories import SYSTEM, customer, payment

pytestmark = pytest.mark.browser


def test_allocate_see_it_in_the_section_and_the_history_and_undo_it(staff_page):
    page = staff_page
    page.on("dialog", lambda dialog: dialog.accept())
    cust = customer(name="Acme Pte Ltd")
    invoice = invoice_create_purchase(customer_id=cust.pk, actor=SYSTEM, lines=[
        PurchaseLine(description="Onboarding service", quantity="1", unit_price="250.75", tax_rate="0",
                     kind="service")])
    invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
    cash = payment(cust, "200", reference="TT-4711")
    note = credit_note_issue(customer=cust, invoice=invoice, amount=Decimal("0.75"), reason="Rounding goodwill",
                             actor=SYSTEM)

    page.goto(f"/invoices/{invoice.pk}/")
    # The ledger: the service charge is billed by this invoice, the invoice's total is the one amount owed.
    expect(page.locator("#ledger-billed")).to_contain_text("Service: charge billed by this invoice")
    expect(page.locator("#ledger-billed")).to_contain_text(f"Billed by {invoice.number}")
    expect(page.locator("#ledger-posted")).to_contain_text("Invoice issued: the total owed, tax included")
    expect(page.locator("#ledger-posted")).not_to_contain_text("Service")
    expect(page.locator("#ledger-charged-once")).to_contain_text("Charged once")
    section = page.locator("#money-applied")
    expect(section.locator('[data-money="credit_note"]')).to_contain_text(note.number)

    page.click("#action-more")
    page.get_by_role("menuitem", name="Payment").click()
    expect(page).to_have_url(re.compile(rf"/payments/for-invoice/{invoice.pk}/$"))
    page.fill("input[name=amount]", "200")
    page.get_by_role("button", name="Assign & allocate").click()
    page.get_by_role("link", name=invoice.number).click()

    row = section.locator('[data-money="allocation"]')
    expect(row).to_contain_text(f"Payment #{cash.pk}")
    expect(row).to_contain_text("TT-4711")
    expect(row).to_contain_text("200.00")
    expect(row.locator(".badge")).to_have_text("Active")
    expect(section.locator('[data-money-total="paid"]')).to_have_text("200.00 SGD")
    expect(page.locator('[data-figure="amount_due"]')).to_contain_text("50.00")
    history = page.locator("#invoice-history")
    expect(history.locator('[data-event="finance.payment.allocate"]')).to_contain_text(
        f"Payment #{cash.pk}: 200.00 SGD allocated to this invoice")
    expect(history.locator('[data-event="finance.credit_note.issue"]')).to_have_count(1)

    row.get_by_role("button", name="Undo").click()
    expect(page).to_have_url(re.compile(rf"/invoices/{invoice.pk}/$"))  # back on the invoice page
    expect(row.locator(".badge")).to_have_text("Undone")
    expect(section.locator('[data-money-total="paid"]')).to_have_text("0.00 SGD")
    expect(history.locator('[data-event="finance.allocation.reverse"]')).to_contain_text("undone")
    assert page.console_errors == []
