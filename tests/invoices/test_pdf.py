"""The PDF shows the same numbers as the page, to the last digit (the PDF text is read back with pypdf)."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from invoices import settlement
from invoices.locks import lock_invoice
from invoices.services import PurchaseLine, invoice_void
from tests.invoices.factories import SYSTEM, monthly_invoice, purchase_invoice, top_up_invoice, usage

pytestmark = pytest.mark.django_db

LABELS = ["Subtotal", "Tax", "Total", "Amount paid", "Credit notes", "Amount due"]


def page_figures(html: str) -> dict[str, str]:
    """The totals block of the invoice page: {"Total": "152.5782", ...}."""
    rows = re.findall(r'<td colspan="6" class="num">([^<]+)</td><td colspan="2" class="num" data-total="\w+">'
                      r'([\d,.\-]+) SGD</td>', html)
    return dict(rows)


def page_lines(html: str) -> list[tuple[str, str]]:
    return list(zip(re.findall(r"<td class=\"num\" data-line-amount>([^<]+)</td>", html),
                    re.findall(r"<td class=\"num\" data-line-tax>([^<]+)</td>", html), strict=True))


def pdf_text(client, invoice) -> str:
    response = client.get(reverse("invoices:pdf", args=[invoice.pk]))
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def pdf_figures(text: str) -> dict[str, str]:
    found = {}
    for label in LABELS:
        match = re.search(rf"^{label} ([\d,.\-]+) SGD$", text, re.MULTILINE)
        if match:
            found[label] = match.group(1)
    return found


def assert_same_numbers(client, invoice):
    html = client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    text = pdf_text(client, invoice)
    figures = page_figures(html)
    assert set(figures) >= {"Subtotal", "Tax", "Total", "Amount paid", "Amount due"}
    assert pdf_figures(text) == figures
    for amount, tax in page_lines(html):
        assert re.search(rf" {re.escape(amount)} {re.escape(tax)}$", text, re.MULTILINE), (amount, tax, text)
    assert invoice.number in text and "Acme Pte Ltd" in text
    return text


def settle(invoice, amount):
    with transaction.atomic():
        settlement.apply(lock_invoice(invoice.pk), Decimal(amount), at=timezone.now())


def test_a_purchase_invoice_with_sub_cent_tax(finance_client, customer):
    invoice = purchase_invoice(customer, [
        PurchaseLine(description="Cloud PBX seat", quantity="3", unit_price="19.99", kind="subscription"),
        PurchaseLine(description="IP phone", quantity="1", unit_price="1234.5", kind="hardware"),
        PurchaseLine(description="Porting", quantity="2.5", unit_price="0.333333", kind="service", tax_rate="7.5")],
        sent=True)
    settle(invoice, "100.01")
    text = assert_same_numbers(finance_client, invoice)
    assert "Total 1,411.868133 SGD" in text and "Amount due 1,311.858133 SGD" in text


def test_a_monthly_invoice_with_six_decimal_usage(finance_client, customer):
    for amount in ("0.000009", "1610.61", "0.20544"):
        usage(customer, amount, at=dt.datetime(2026, 2, 3, tzinfo=dt.UTC))
    invoice = monthly_invoice(customer, "2026-02")
    text = assert_same_numbers(finance_client, invoice)
    assert "1,610.815449" in text  # the page's exact figure, not a rounded one
    assert "TAX INVOICE" in text


def test_a_paid_top_up_carries_a_paid_watermark(finance_client, customer):
    invoice = top_up_invoice(customer, "500", sent=True)
    settle(invoice, "500")
    text = assert_same_numbers(finance_client, invoice)
    assert "PAID" in text and "Amount due 0.00 SGD" in text and "Paid in full" in text


def test_a_void_invoice_carries_a_void_watermark(finance_client, customer):
    invoice = top_up_invoice(customer, "75.5", sent=True)
    invoice_void(invoice_id=invoice.pk, reason="Paid by card instead", actor=SYSTEM)
    text = assert_same_numbers(finance_client, invoice)
    assert "VOID" in text and "Paid by card instead" in text


def test_a_draft_has_no_watermark(finance_client, customer):
    text = assert_same_numbers(finance_client, top_up_invoice(customer, "75.5"))
    assert "VOID" not in text and "PAID" not in text
