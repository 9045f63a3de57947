"""The customer page in a real browser: the figures with CR/DR colours, each linking to its rows, the tabs,
filters swapping the transactions table, releasing a reservation, and editing settings with a refusal shown
in place."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import InvoiceSetup, Reservation, TransactionKind
from customers.services import reservation_reserve
from tests.customers.factories import SYSTEM, SubscriptionFactory, ledger_post, postpaid, prepaid

pytestmark = pytest.mark.browser
D = Decimal


@pytest.fixture
def customer(transactional_db):
    c = postpaid("1000", code="ACME", name="Acme Pte Ltd", invoice_setup=InvoiceSetup.CONSOLIDATED)
    now = timezone.now()
    ledger_post(c, TransactionKind.CALL, "-1000.61", at=now - dt.timedelta(days=3))
    ledger_post(c, TransactionKind.CALL, "-610", at=now - dt.timedelta(days=2))
    ledger_post(c, TransactionKind.SMS, "-0.05", at=now - dt.timedelta(days=1))
    ledger_post(c, TransactionKind.TOP_UP, "2000", at=now - dt.timedelta(days=4))
    ledger_post(c, TransactionKind.INVOICE, "-0.20544", at=now - dt.timedelta(days=5))
    reservation_reserve(customer_id=c.pk, amount=D("20"), actor=SYSTEM, at=now, reference="call-in-flight")
    SubscriptionFactory(customer=c, product="SIP trunk", renewal_price=D("120"), renewal_cost=D("135"))
    c.refresh_from_db()
    return c


def test_figures_link_to_the_rows_that_make_them(staff_page, customer):
    page = staff_page
    page.goto(f"/customers/{customer.pk}/")
    usable = page.locator("[data-figure=usable-credits] .amount")
    assert usable.inner_text().replace("\n", " ") == "1,369.34 SGD CR"
    assert "cr" in usable.get_attribute("class")
    due = page.locator("[data-figure=amount-due] .amount")
    assert due.inner_text().replace("\n", " ") == "-0.20544 SGD DR" and "dr" in due.get_attribute("class")
    assert "= 1,369.34" in page.locator("[data-figure=usable-credits] .formula").inner_text()

    page.click("[data-figure=expecting-invoice]")
    page.wait_for_url("**/transactions/?view=unbilled")
    assert page.locator("#id_view").input_value() == "unbilled"
    assert "389.34 SGD CR" in page.locator("#transaction-count").inner_text().replace("\n", " ")
    assert page.locator("tbody.transaction-group").count() == 3  # call, SMS, top-up
    call_group = page.locator("tbody[data-kind=call]")
    assert "-1,610.61 SGD DR" in call_group.locator("tr.subtotal").inner_text().replace("\n", " ")

    page.select_option("#id_kind", "sms")
    expect(page.locator("tbody.transaction-group")).to_have_count(1)
    assert "kind=sms" in page.url
    assert page.locator("tbody[data-kind=sms] tr[data-transaction]").count() == 1

    page.goto(f"/customers/{customer.pk}/")
    page.click("[data-figure=amount-due]")
    page.wait_for_url("**/transactions/?view=due")
    assert page.locator("tbody[data-kind=invoice]").count() == 1

    page.goto(f"/customers/{customer.pk}/")
    page.click("[data-figure=reserved]")
    page.wait_for_url("**/reservations/")
    assert "call-in-flight" in page.locator("#reservation-table").inner_text()
    assert page.console_errors == []


def test_release_a_reservation_after_confirming(staff_page, customer):
    page = staff_page
    reservation = Reservation.objects.get(customer=customer)
    page.goto(f"/customers/{customer.pk}/reservations/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-reservation='{reservation.pk}'] button").click()
    page.wait_for_selector(".toast-success")
    assert "released" in page.locator(".toast-success").inner_text()
    reservation.refresh_from_db()
    assert reservation.status == "released"
    page.click("nav.tabs >> text=Payment")
    assert page.locator("[data-figure=reserved] .amount").inner_text().strip() == "0.00 SGD"  # zero: neutral
    assert page.console_errors == []


def test_reservations_tab_filters_in_place_and_keeps_them_in_the_url(staff_page, customer):
    page = staff_page
    page.goto(f"/customers/{customer.pk}/reservations/")
    table = page.locator("#reservation-table")
    assert "call-in-flight" in table.inner_text() and "1 reservation" in table.inner_text()
    page.select_option("#id_status", "released")
    expect(table).to_contain_text("No reservations match")
    assert "status=released" in page.url
    page.select_option("#id_status", "all")
    expect(table).to_contain_text("call-in-flight")
    page.fill("#id_q", "no-such-call")
    page.press("#id_q", "Enter")
    expect(table).to_contain_text("No reservations match")
    assert "q=no-such-call" in page.url and "status=all" in page.url
    page.fill("#id_q", "in-flight")
    page.press("#id_q", "Enter")
    expect(table).to_contain_text("call-in-flight")
    assert table.locator("a[download]").get_attribute("href").endswith("format=csv")
    assert page.console_errors == []


def test_tabs_and_the_negative_margin(staff_page, customer):
    page = staff_page
    page.goto(f"/customers/{customer.pk}/")
    page.click("nav.tabs >> text=Subscriptions")
    page.wait_for_url("**/subscriptions/")
    assert "Negative margin" in page.locator("tr.negative-margin").inner_text()
    page.click("nav.tabs >> text=Notifications")
    page.wait_for_url("**/notifications/")
    assert "Nothing sent" in page.locator("#notification-table").inner_text()
    page.click("nav.tabs >> text=Audit")
    page.wait_for_url("**/audit/")
    assert "customers.reservation.reserve" in page.locator("#customer-audit").inner_text()
    assert page.console_errors == []


def test_edit_settings_shows_a_refusal_in_place_then_saves(staff_page, transactional_db):
    page = staff_page
    customer = prepaid(code="PRE", name="Prepaid Co")
    page.goto(f"/customers/{customer.pk}/")
    page.click("text=Edit settings")
    page.wait_for_url("**/edit/")
    page.fill("#id_credit_limit", "500")
    page.click("#customer-form button[type=submit]")
    page.wait_for_selector("#customer-form .alert-error")
    assert "A prepaid account has no credit limit" in page.locator("#customer-form .alert-error").inner_text()
    page.select_option("#id_account_type", "postpaid")
    page.fill("#id_reason", "Moved to postpaid after credit check")
    page.click("#customer-form button[type=submit]")
    page.wait_for_url(f"**/customers/{customer.pk}/")
    assert page.locator("[data-figure=credit-limit] .amount").inner_text().replace("\n", " ") == "500.00 SGD CR"
    assert page.console_errors == []
