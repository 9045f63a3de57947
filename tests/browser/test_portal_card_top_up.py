"""Browser journey: a customer tops up by card on the (fake) Stripe Checkout page and sees the credits."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def checkout(fake_stripe, live_server, settings):
    """The fake posts its webhooks to the live server, as Stripe would. The site-wide CSP allows forms to
    our own origin only: the portal's checkout pages allow the Checkout origin themselves."""
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**directives, "form-action": ["'self'"]}}
    fake_stripe.set_webhook(f"{live_server.url}/stripe/webhook/")
    fake_stripe.auto_deliver = True
    return fake_stripe


def our_console_errors(page, live_server) -> list[str]:
    """Console errors of our own pages (the fake's page is not ours: it serves no favicon, for one)."""
    return [text for text, url in page.errors_with_url if url.startswith(live_server.url)]


@pytest.fixture
def acme(transactional_db):
    from tests.customers.factories import portal_user
    from tests.finance.factories import customer

    acme = customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")
    portal_user(acme, "acme")
    return acme


@pytest.fixture
def watched(page):
    page.errors_with_url = []
    page.on("console", lambda m: page.errors_with_url.append((m.text, m.location.get("url", "")))
            if m.type == "error" else None)
    return page


def test_top_up_by_card_through_checkout_and_see_the_credits(watched, acme, checkout, live_server):
    from finance.models import CardPayment, PaymentSettings
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    page = watched
    sign_in(page, "acme", PASSWORD, path="/portal/login/")
    page.wait_for_url("**/portal/")
    page.click("nav.portal-nav >> text=Top up")
    page.fill("input[name=amount]", "50")
    page.check("input[name=save_card]")
    page.fill("input[name=trigger_amount]", "30")
    page.fill("input[name=limit_threshold]", "5")
    page.click("button:has-text('Continue to payment')")

    page.wait_for_url(f"{checkout.url}/pay/**")
    assert "50.00 SGD" in page.locator("table").inner_text()
    page.fill("input[name=card]", "4242 4242 4242 4242")
    page.click("button:has-text('Pay')")

    page.wait_for_url("**/portal/card/success/**")
    assert page.locator("h1").inner_text() == "Payment received"
    assert "50.00 SGD CR" in page.locator("[data-figure=usable-credits]").inner_text()
    assert "Your card is saved" in page.locator("main").inner_text()
    page.click("nav.portal-nav >> text=Home")
    assert "50.00 SGD CR" in page.locator("[data-figure=usable-credits]").inner_text()
    assert "Visa ending 4242" in page.locator("main").inner_text()

    assert checkout.wait_for_webhooks(10)
    assert all(d.ok for d in checkout.deliveries), checkout.deliveries
    acme.refresh_from_db()
    assert acme.usable_credits == Decimal("50")  # the redirect and the webhooks: one credit
    assert CardPayment.objects.get().status == "succeeded"
    assert PaymentSettings.objects.get(customer=acme).auto_top_up_enabled
    assert our_console_errors(page, live_server) == []


def test_a_declined_card_shows_stripes_message_and_adds_nothing(watched, acme, checkout, live_server):
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    page = watched
    sign_in(page, "acme", PASSWORD, path="/portal/login/")
    page.wait_for_url("**/portal/")
    page.goto("/portal/top-up/")
    page.fill("input[name=amount]", "20")
    page.click("button:has-text('Continue to payment')")
    page.wait_for_url(f"{checkout.url}/pay/**")
    page.fill("input[name=card]", "4000000000000002")
    page.click("button:has-text('Pay')")
    assert "Your card was declined." in page.locator("[role=alert]").inner_text()
    page.click("text=Cancel and go back")
    page.wait_for_url("**/portal/card/cancelled/**")
    assert page.locator("h1").inner_text() == "Card payment"  # coming back changes nothing by itself
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Cancel this payment')")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Payment cancelled"
    usable = page.locator("[data-figure=usable-credits]").inner_text()
    assert "0.00 SGD" in usable and "CR" not in usable  # zero is neutral (issue 23)
    acme.refresh_from_db()
    assert acme.usable_credits == Decimal("0")
    assert our_console_errors(page, live_server) == []
