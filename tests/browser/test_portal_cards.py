"""Browser journeys: a customer changes the automatic top-up amounts, turns it off, removes the card;
then opens the Payments page and downloads a card payment's receipt."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db, fake_stripe):
    """Acme with a portal login and a Visa saved during a 20.00 SGD top-up (auto top-up 50.00 at 10.00)."""
    from tests.customers.factories import portal_user
    from tests.finance.factories import customer
    from tests.stripe.helpers import save_card

    acme = customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")
    portal_user(acme, "acme")
    return save_card(fake_stripe, acme)


@pytest.fixture
def signed_in(page, acme):
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    sign_in(page, "acme", PASSWORD, path="/portal/login/")
    page.wait_for_url("**/portal/")
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def test_change_the_amounts_turn_auto_top_up_off_and_remove_the_card(signed_in, acme, fake_stripe):
    from customers.models import Customer
    from finance.models import PaymentSettings

    page = signed_in
    page.click("nav.portal-nav >> text=Card")
    page.wait_for_url("**/portal/card/")
    assert "Visa ending 4242" in page.locator("[data-card]").inner_text()
    assert page.locator("[data-card-expiry]").inner_text() == f"12/{acme.card_exp_year}"
    assert page.locator("[data-auto-top-up]").get_attribute("data-auto-top-up") == "on"

    page.fill("input[name=trigger_amount]", "30")
    page.fill("input[name=limit_threshold]", "25")
    page.click("button:has-text('Save amounts')")
    page.wait_for_url("**/portal/card/")
    # 20.00 usable is under the new 25.00 threshold: the confirmation and the page say what the next top-up does.
    assert ("Automatic top-ups by card are on. Your usable credits are 20.00 SGD: the next daily top-up of "
            "30.00 SGD brings them to 50.00 SGD, above 25.00 SGD.") in page.locator("body").inner_text()
    assert page.locator("[data-trigger-amount]").inner_text() == "30.00 SGD"
    assert "brings them to 50.00 SGD, above 25.00 SGD" in page.locator("[data-projection]").inner_text()

    page.click("button:has-text('Turn automatic top-ups off')")
    page.wait_for_url("**/portal/card/")
    assert "your card will not be charged automatically" in page.locator("body").inner_text()
    assert page.locator("[data-auto-top-up]").get_attribute("data-auto-top-up") == "off"

    page.click("button:has-text('Turn automatic top-ups on')")
    page.wait_for_url("**/portal/card/")
    assert page.locator("[data-auto-top-up]").get_attribute("data-auto-top-up") == "on"

    method_id = acme.stripe_payment_method_id
    page.click("button:has-text('Remove card')")
    page.wait_for_url("**/portal/card/")
    body = page.locator("body").inner_text()
    assert "Visa ending 4242" in body and "Automatic top-ups by card are now off" in body
    assert "No card is saved on your account." in body

    assert Customer.objects.get(pk=acme.pk).stripe_payment_method_id == ""
    ps = PaymentSettings.objects.get(customer=acme)
    assert (ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (Decimal("30"), Decimal("25"), False)
    assert fake_stripe.get(method_id)["customer"] is None
    assert page.console_errors == []


def test_open_the_payments_page_and_download_a_receipt(signed_in, acme):
    from finance.models import CardPayment

    page = signed_in
    card = CardPayment.objects.get(customer=acme)
    page.click("nav.portal-nav >> text=Payments")
    page.wait_for_url("**/portal/payments/")
    row = page.locator(f"tr[data-payment=card-{card.pk}]")
    assert "20.00 SGD" in row.inner_text() and "Visa ending 4242" in row.inner_text()

    page.select_option("select[name=kind]", "top_up")
    page.wait_for_url("**/portal/payments/?kind=top_up**")
    assert page.locator("#payment-table").inner_text().strip() == "No payments match."
    page.select_option("select[name=kind]", "")
    page.locator(f"tr[data-payment=card-{card.pk}]").wait_for()

    with page.expect_download() as download:
        page.click(f"tr[data-payment=card-{card.pk}] a[aria-label^='Download receipt']")
    assert download.value.suggested_filename == f"RCPT-{card.pk:06d}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
    assert page.console_errors == []
