"""Browser journey: a customer signs in to the portal, pays a purchase invoice with credits, and downloads
its PDF."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def customer_with_an_invoice(transactional_db):
    from tests.customers.factories import portal_user, top_up
    from tests.finance.factories import customer, purchase_invoice

    acme = customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")
    portal_user(acme, "acme")
    top_up(acme, "100")
    invoice = purchase_invoice(acme, "60")
    return acme, invoice


def test_sign_in_pay_an_invoice_with_credits_and_download_its_pdf(page, customer_with_an_invoice):
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    acme, invoice = customer_with_an_invoice
    sign_in(page, "acme", PASSWORD, path="/portal/login/")
    page.wait_for_url("**/portal/")
    # 100 of credit, 60 of it owed on the invoice: 40 usable, before and after paying it with credits.
    assert "40.00 SGD CR" in page.locator("[data-figure=usable-credits]").inner_text()

    page.click("nav.portal-nav >> text=Invoices")
    row = page.locator(f"tr[data-invoice='{invoice.number}']")
    assert "Awaiting payment" in row.inner_text()
    row.locator("a[aria-label^='Pay']").click()
    page.wait_for_url(f"**/portal/invoices/{invoice.pk}/pay/")
    assert "Your credits cover this invoice" in page.locator("main").inner_text()
    page.click("button:has-text('with credits')")
    page.wait_for_url("**/portal/invoices/")
    assert "is paid with your credits" in page.locator(".toast").first.inner_text()
    assert "Paid" in row.inner_text()
    assert row.locator("a[aria-label^='Pay']").count() == 0

    with page.expect_download() as download_info:
        row.locator("a[aria-label^='Download']").click()
    download = download_info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    page.click("nav.portal-nav >> text=Home")
    assert "40.00 SGD CR" in page.locator("[data-figure=usable-credits]").inner_text()
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("60")
    assert page.console_errors == []
