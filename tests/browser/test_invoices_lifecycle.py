"""Browser journeys of the invoice pages: create a top-up invoice -> send -> void; a purchase with lines."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from invoices.models import Invoice, InvoiceStatus

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db):
    from tests.customers.factories import CustomerFactory

    return CustomerFactory(name="Acme Pte Ltd", code="ACME", billing_email="ap@acme.example")


def accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())


def test_create_a_top_up_invoice_send_it_and_void_it(staff_page, acme):
    page = staff_page
    accept_dialogs(page)
    page.goto("/invoices/")
    page.get_by_role("button", name="+ Create invoice").click()
    page.get_by_role("menuitem", name="Top-up").click()
    expect(page.locator("h1")).to_have_text("New top-up invoice")

    # bad input: a clear message, nothing created
    page.fill("#id_customer", "ACME")
    page.fill("#id_amount", "5")
    page.get_by_role("button", name="Create invoice").click()
    expect(page.locator(".alert-error")).to_contain_text("at least 10.00 SGD")
    assert Invoice.objects.count() == 0

    page.fill("#id_amount", "250.50")
    page.fill("#id_name", "Top-up for April")
    page.get_by_role("button", name="Create invoice").click()
    expect(page.locator("#invoice-status")).to_have_text("Draft")
    number = page.locator("#invoice-number").inner_text()
    assert re.fullmatch(r"INV-\d{4}-000001", number)
    expect(page.locator('[data-figure="total"]')).to_contain_text("250.50")

    page.locator("#action-send").click()
    expect(page.locator("#invoice-status")).to_have_text("Awaiting payment")
    expect(page.locator(".toast")).to_contain_text(f"Invoice {number} sent to ap@acme.example")
    assert len(mail.outbox) == 1 and mail.outbox[0].attachments[0][0] == f"{number}.pdf"

    page.locator("#action-void").click()
    page.get_by_label("Reason for voiding").fill("Customer paid by card instead")
    page.locator("#confirm-void").click()
    expect(page.locator("#invoice-status")).to_have_text("Void")
    expect(page.locator("#invoice-number")).to_have_text(number)  # the number is kept
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.VOID and invoice.void_reason == "Customer paid by card instead"
    assert page.console_errors == []


def test_a_sent_purchase_invoice_cannot_be_voided_and_says_why(staff_page, acme):
    from tests.invoices.factories import purchase_invoice

    page = staff_page
    invoice = purchase_invoice(acme, sent=True)
    page.goto(f"/invoices/{invoice.pk}/")
    page.locator("#action-void").click()
    expect(page.locator("#void-refusal")).to_contain_text("cancelled with a credit note")
    assert page.console_errors == []


def test_create_a_purchase_invoice_with_lines(staff_page, acme):
    page = staff_page
    page.goto("/invoices/new/purchase/")
    page.fill("#id_customer", "ACME")
    page.fill("#id_name", "Office setup")
    page.select_option("#id_lines-0-kind", "hardware")
    page.fill("#id_lines-0-description", "IP phone")
    page.fill("#id_lines-0-quantity", "3")
    page.fill("#id_lines-0-unit_price", "80")
    page.get_by_role("button", name="+ Add line").click()
    expect(page.locator("tr.line-row")).to_have_count(2)
    expect(page.locator("#id_lines-0-description")).to_have_value("IP phone")  # kept across the round trip
    page.select_option("#id_lines-1-kind", "service")
    page.fill("#id_lines-1-description", "Installation")
    page.fill("#id_lines-1-unit_price", "45.50")
    page.fill("#id_lines-1-tax_rate", "0")
    page.get_by_role("button", name="Create invoice").click()

    expect(page.locator("#invoice-status")).to_have_text("Draft")
    rows = page.locator("#invoice-lines tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("IP phone")
    expect(page.locator('[data-total="subtotal"]')).to_have_text("285.50 SGD")
    expect(page.locator('[data-total="tax"]')).to_have_text("21.60 SGD")
    expect(page.locator('[data-total="total"]')).to_have_text("307.10 SGD")

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#action-mark-sent").click()
    expect(page.locator("#invoice-status")).to_have_text("Awaiting payment")
    acme.refresh_from_db()
    assert str(acme.amount_due) == "-307.100000" and mail.outbox == []
    assert page.console_errors == []


def test_a_credit_note_on_an_unpaid_invoice_shows_it_partially_credited(staff_page, acme):
    from tests.finance.factories import purchase_invoice

    page = staff_page
    accept_dialogs(page)
    invoice = purchase_invoice(acme, "100")
    page.goto(f"/invoices/{invoice.pk}/")
    page.click("#action-more")
    page.get_by_role("menuitem", name="Credit note").click()
    page.fill("input[name=amount]", "40")
    page.fill("input[name=reason]", "Goodwill")
    page.get_by_role("button", name="Issue credit note").click()
    expect(page).to_have_url(re.compile(r"/credit-notes/\d+/$"))
    page.goto(f"/invoices/{invoice.pk}/")
    expect(page.locator("#invoice-status")).to_have_text("Partially credited")
    expect(page.locator("main")).not_to_contain_text("Partially paid")
    assert page.console_errors == []
