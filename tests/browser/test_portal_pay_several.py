"""Browser journey: a customer selects two open invoices on the invoice list, sees on the confirm page the
credits applied first and the card shortfall, pays the shortfall on the (fake) Stripe Checkout page, and
both invoices show paid."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.browser.test_portal_card_top_up import checkout, our_console_errors, watched  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


@pytest.fixture
def acme_with_two_invoices(transactional_db):
    from django.utils import timezone

    from tests.customers.factories import portal_user, top_up
    from tests.finance.factories import customer, monthly_invoice, purchase_invoice

    acme = customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")
    portal_user(acme, "acme")
    top_up(acme, "30")
    today = timezone.localdate()
    later = purchase_invoice(acme, "60", due_date=today + dt.timedelta(days=20))
    sooner = purchase_invoice(acme, "50.5", due_date=today + dt.timedelta(days=5))
    monthly = monthly_invoice(acme, "40")
    return acme, later, sooner, monthly


def test_select_two_invoices_pay_the_shortfall_by_card_and_both_show_paid(watched, acme_with_two_invoices,  # noqa: F811
                                                                          checkout, live_server):  # noqa: F811
    from finance.models import CardPayment
    from invoices.models import Invoice
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    acme, later, sooner, monthly = acme_with_two_invoices
    page = watched
    sign_in(page, "acme", PASSWORD, path="/portal/login/")
    page.wait_for_url("**/portal/")
    page.click("nav.portal-nav >> text=Invoices")
    assert page.locator(f"tr[data-invoice='{monthly.number}'] input[type=checkbox]").count() == 0
    page.check(f"tr[data-invoice='{later.number}'] input[type=checkbox]")
    page.check(f"tr[data-invoice='{sooner.number}'] input[type=checkbox]")
    page.click("button:has-text('Pay selected')")

    page.wait_for_url("**/portal/invoices/pay/?**")
    panel = page.locator("#pay-panel").inner_text()
    assert "30.00 SGD" in panel  # from the credits
    assert "80.50 SGD" in page.locator("[data-card-charge]").inner_text()
    rows = page.locator("#selected-invoices tbody tr")
    assert rows.nth(0).get_attribute("data-invoice") == sooner.number  # oldest due first
    page.click("button:has-text('by card')")

    page.wait_for_url(f"{checkout.url}/pay/**")
    assert "80.50 SGD" in page.locator("table").inner_text()
    page.fill("input[name=card]", "4242 4242 4242 4242")
    page.click("button:has-text('Pay')")

    page.wait_for_url("**/portal/card/success/**")
    assert page.locator("h1").inner_text() == "Payment received"
    for invoice in (later, sooner):
        assert page.locator(f"#invoices-paid tr[data-invoice='{invoice.number}']").get_attribute(
            "data-outcome") == "paid"
    page.click("a.btn:has-text('Invoices')")
    page.wait_for_url("**/portal/invoices/")
    for invoice in (later, sooner):
        row = page.locator(f"tr[data-invoice='{invoice.number}']")
        assert "Paid" in row.inner_text() and row.locator("input[type=checkbox]").count() == 0

    assert checkout.wait_for_webhooks(10)
    assert all(d.ok for d in checkout.deliveries), checkout.deliveries
    payment = CardPayment.objects.get()
    assert payment.status == "succeeded" and payment.amount_charged == Decimal("80.5")
    assert set(Invoice.objects.filter(pk__in=[later.pk, sooner.pk]).values_list("status", flat=True)) == {"paid"}
    assert our_console_errors(page, live_server) == []
