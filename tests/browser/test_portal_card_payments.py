"""Browser journeys for issue 19's card fixes: two tabs paying one invoice (by card: one Checkout, one
charge; with credits: the second tab gets the paid invoice), cancelling a card payment with the cancel
page's button (which expires the Checkout at Stripe), and the pay page's lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.browser import test_portal_card_top_up as card_top_up

checkout, watched, our_console_errors = card_top_up.checkout, card_top_up.watched, card_top_up.our_console_errors

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db):
    from tests.customers.factories import portal_user, top_up
    from tests.finance.factories import customer

    acme = customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")
    portal_user(acme, "acme")
    top_up(acme, "25")
    return acme


def signed_in(page):
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    sign_in(page, "acme", PASSWORD, path="/portal/login/")
    page.wait_for_url("**/portal/")
    return page


def test_two_tabs_paying_one_invoice_by_card_share_one_checkout_and_charge_once(watched, acme, checkout,
                                                                                 live_server):
    from finance.models import CardPayment
    from tests.finance.factories import purchase_invoice

    invoice = purchase_invoice(acme, "60")
    first = signed_in(watched)
    second = first.context.new_page()  # the same browser session, another tab
    for tab in (first, second):
        tab.goto(f"/portal/invoices/{invoice.pk}/pay/")
        assert "you are 35.00 SGD short" in tab.locator("[data-shortfall]").inner_text()
    first.click("button:has-text('Top up by card and pay')")
    first.wait_for_url(f"{checkout.url}/pay/**")
    second.click("button:has-text('Top up by card and pay')")
    second.wait_for_url(f"{checkout.url}/pay/**")
    assert first.url == second.url  # the second click reuses the open Checkout

    first.click("button:has-text('Pay')")
    first.wait_for_url("**/portal/card/success/**")
    assert f"Invoice {invoice.number} is paid with your credits." in first.locator("main").inner_text()
    second.click("button:has-text('Pay')")  # the stale Checkout tab: Stripe takes nothing more
    assert "no longer active" in second.locator("body").inner_text()

    assert checkout.wait_for_webhooks(10)
    acme.refresh_from_db()
    invoice.refresh_from_db()
    assert invoice.status == "paid" and acme.usable_credits == Decimal("0")  # 25 + 35 - 60
    assert CardPayment.objects.count() == 1 and len(checkout.events_of_type("payment_intent.succeeded")) == 1
    second.goto(f"/portal/invoices/{invoice.pk}/pay/")
    assert second.locator("[data-invoice-status]").inner_text() == "Paid"
    assert second.locator("#pay-panel button").count() == 0
    assert our_console_errors(first, live_server) == []


def test_two_tabs_paying_one_invoice_with_credits_the_second_gets_the_paid_invoice(watched, acme):
    from finance.models import Allocation
    from tests.customers.factories import top_up
    from tests.finance.factories import purchase_invoice

    top_up(acme, "100")
    invoice = purchase_invoice(acme, "60")
    first = signed_in(watched)
    second = first.context.new_page()
    for tab in (first, second):
        tab.goto(f"/portal/invoices/{invoice.pk}/pay/")
    first.click("button:has-text('with credits')")
    first.wait_for_url("**/portal/invoices/")
    second.click("button:has-text('with credits')")  # its page is stale: the invoice is paid now
    second.wait_for_url(f"**/portal/invoices/{invoice.pk}/pay/")
    assert f"Invoice {invoice.number} is already paid." in second.locator(".toast").first.inner_text()
    assert second.locator("[data-invoice-status]").inner_text() == "Paid"
    assert second.locator("#pay-panel button").count() == 0
    assert Allocation.objects.filter(invoice=invoice).count() == 1
    assert first.console_errors == []


def test_cancel_a_card_payment_with_the_button_after_leaving_checkout(watched, acme, checkout, live_server):
    from finance.models import CardPayment
    from tests.finance.factories import purchase_invoice

    invoice = purchase_invoice(acme, "60")
    page = signed_in(watched)
    page.goto(f"/portal/invoices/{invoice.pk}/pay/")
    page.click("button:has-text('Top up by card and pay')")
    page.wait_for_url(f"{checkout.url}/pay/**")
    checkout_url = page.url
    page.click("text=Cancel and go back")
    page.wait_for_url("**/portal/card/cancelled/**")
    payment = CardPayment.objects.get()
    assert payment.status == "pending"  # arriving here changes nothing
    assert "no payment was taken yet" in page.locator("main").inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Cancel this payment')")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Payment cancelled"
    assert f"invoice {invoice.number} is still open" in page.locator("main").inner_text()
    assert page.locator("button:has-text('Cancel this payment')").count() == 0
    payment.refresh_from_db()
    assert payment.status == "cancelled"
    page.goto(checkout_url)  # the Checkout page again: it takes no money any more
    assert "no longer active" in page.locator("body").inner_text()
    assert our_console_errors(page, live_server) == []


def test_the_pay_page_shows_the_invoices_lines_and_totals(watched, acme):
    from invoices.services import PurchaseLine, invoice_create_purchase, invoice_mark_sent
    from tests.finance.factories import SYSTEM

    invoice = invoice_create_purchase(customer_id=acme.pk, actor=SYSTEM, lines=[
        PurchaseLine(description="Cloud PBX seats", quantity="3", unit_price="10", tax_rate="9"),
        PurchaseLine(description="Number porting", quantity="2", unit_price="2.5", tax_rate="0"),
    ])
    invoice = invoice_mark_sent(invoice_id=invoice.pk, actor=SYSTEM)
    page = signed_in(watched)
    page.goto(f"/portal/invoices/{invoice.pk}/pay/")
    rows = page.locator("#invoice-lines tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").all_inner_texts() == ["Cloud PBX seats", "3", "10.00", "2.70 (9%)", "30.00"]
    assert rows.nth(1).locator("td").all_inner_texts() == ["Number porting", "2", "2.50", "0.00 (0%)", "5.00"]
    assert page.locator("[data-total=subtotal]").inner_text() == "35.00 SGD"
    assert page.locator("[data-total=tax]").inner_text() == "2.70 SGD"
    assert page.locator("[data-total=total]").inner_text() == "37.70 SGD"
    assert "Your card is charged 12.70 SGD for the shortfall" in page.locator("[data-card-charge]").inner_text()
    assert page.console_errors == []
