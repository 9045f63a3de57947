"""Organization management (the payment settings form) and Auto top-up runs, in Chromium."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from finance.models import PaymentSettings, TopUpMethod
from tests import stripe_fixtures

pytestmark = pytest.mark.browser
fake_stripe_server, fake_stripe = stripe_fixtures.fake_stripe_server, stripe_fixtures.fake_stripe


def test_staff_set_a_customers_payment_settings_from_the_clock_icon(staff_page):
    from tests.customers.factories import CustomerFactory

    page = staff_page
    cust = CustomerFactory(name="Acme Telecom", code="ACME")
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.locator("h1")).to_have_text("Organization management")
    page.get_by_role("link", name="Payment settings of Acme Telecom").click()
    expect(page.locator("h1")).to_have_text("Payment settings of Acme Telecom")

    page.select_option("select[name=method]", "master_account")
    expect(page.locator("#settings-form")).to_have_attribute("data-method", "master_account")  # htmx re-rendered it
    page.fill("input[name=trigger_amount]", "0")
    page.fill("input[name=limit_threshold]", "50")
    page.check("input[name=auto_top_up_enabled]")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#settings-form")).to_contain_text("Trigger amount must be more than zero.")
    assert not PaymentSettings.objects.filter(customer=cust).exists()

    page.fill("input[name=trigger_amount]", "250.123456")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".toast")).to_contain_text("Payment settings of Acme Telecom saved.")
    ps = PaymentSettings.objects.get(customer=cust)
    assert (ps.method, ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (
        TopUpMethod.MASTER_ACCOUNT, Decimal("250.123456"), Decimal("50"), True)

    page.get_by_role("link", name="Back to the list").click()
    row = page.locator("tr[data-customer-id]", has_text="Acme Telecom")
    expect(row).to_contain_text("Issue from master account")
    expect(row).to_contain_text("250.123456 SGD")
    expect(row).to_contain_text("On")
    assert page.console_errors == []


def test_choosing_the_card_method_shows_the_customers_amounts_read_only(staff_page, fake_stripe):
    from finance.services.auto_top_up import payment_settings_update
    from tests.customers.factories import CustomerFactory
    from tests.finance.auto_top_up_support import STAFF
    from tests.stripe.helpers import save_card

    page = staff_page
    # The customer saved a card in the portal choosing trigger 50 and threshold 10; staff later moved them
    # to cheque/TT with their own amounts.
    cust = save_card(fake_stripe, CustomerFactory(name="Card Co"))
    payment_settings_update(customer_id=cust.pk, method=TopUpMethod.CHEQUE_TT, trigger_amount="500",
                            limit_threshold="100", auto_top_up_enabled=False, actor=STAFF)
    page.goto(f"/organizations/{cust.pk}/payment-settings/")
    trigger = page.locator("input[name=trigger_amount]")
    expect(trigger).to_be_enabled()
    page.select_option("select[name=method]", "card")  # htmx re-renders the form for the card method
    expect(page.locator("#settings-form")).to_have_attribute("data-method", "card")
    expect(trigger).to_be_disabled()
    expect(trigger).to_have_value("50.00")
    expect(page.locator("input[name=limit_threshold]")).to_have_value("10.00")
    expect(page.locator("#settings-form")).to_contain_text("Set by the customer during an online top-up")
    page.check("input[name=auto_top_up_enabled]")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".toast")).to_contain_text("saved")
    ps = PaymentSettings.objects.get(customer=cust)
    assert (ps.method, ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (
        TopUpMethod.CARD, Decimal("50"), Decimal("10"), True)
    assert page.console_errors == []


def test_the_runs_page_shows_the_days_totals_and_decisions(staff_page):
    from finance.services.auto_top_up import run_daily_auto_top_up
    from tests.finance.auto_top_up_support import RUN_DATE, SYSTEM, customer_with, wallet

    page = staff_page
    wallet("1000")
    customer_with(TopUpMethod.MASTER_ACCOUNT, name="Topped Co", credits="10", trigger="100")
    customer_with(TopUpMethod.MASTER_ACCOUNT, name="Rich Co", credits="900")
    customer_with(TopUpMethod.MASTER_ACCOUNT, name="Dollar Co", credits="0", currency="EUR")
    run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
    run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Auto top-up runs").click()
    expect(page.locator("h1")).to_have_text("Auto top-up runs")
    expect(page.locator("[data-total=fired] .value")).to_have_text("1")
    expect(page.locator("[data-total=failed] .value")).to_have_text("1")
    expect(page.locator("[data-total=runs] .value")).to_have_text("2")
    expect(page.locator("tr[data-run-id]")).to_have_count(2)
    expect(page.locator("tr[data-decision]")).to_have_count(6)

    page.select_option("select[name=decision]", "failed")  # htmx swaps the table
    expect(page.locator("tr[data-decision]")).to_have_count(1)
    expect(page.locator("tr[data-decision=failed]")).to_contain_text("There is no master wallet in EUR.")
    expect(page).to_have_url(re.compile(r"decision=failed"))

    page.select_option("select[name=decision]", "skipped")
    expect(page.locator("tr[data-decision]")).to_have_count(4)
    expect(page.locator("#decision-table")).to_contain_text("Skipped: above threshold")
    expect(page.locator("#decision-table")).to_contain_text("Topped up earlier today")
    assert page.console_errors == []
