"""The one customer picker (issue 23) in a real browser: typing part of a code or name suggests customers on
every form and list filter that takes a customer; picking one by keyboard fills its code; the new payment's
currency follows it; a typed code works without the suggestions."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from finance.models import CreditNote, Payment, Withdrawal
from tests.finance.factories import customer, payment

pytestmark = pytest.mark.browser

PAGES = ["/payments/new/", "/credit-notes/new/", "/withdrawals/new/", "/payments/", "/credit-notes/",
         "/withdrawals/", "/invoices/", "/invoices/new/top-up/"]


@pytest.fixture
def northwind(staff_page):
    customer(name="Contoso Telecom", code="CONTOSO")
    return customer(name="Northwind Traders", code="NW-042", currency="USD")


@pytest.mark.parametrize("url", PAGES)
def test_typing_a_name_suggests_the_customer_on_every_page_that_takes_one(staff_page, northwind, url):
    page = staff_page
    page.goto(url)
    field = page.locator("input[name=customer]")
    expect(field).to_have_attribute("list", re.compile(r".+-options"))
    field.press_sequentially("northw")
    options = page.locator(f"#{field.get_attribute('list')} option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", "NW-042")
    expect(options.first).to_have_text("Northwind Traders · USD")
    assert page.console_errors == []


def test_a_new_payment_for_a_customer_found_by_name(staff_page, northwind):
    page = staff_page
    page.goto("/payments/new/")
    field = page.locator("input[name=customer]")
    field.press_sequentially("trad")
    expect(page.locator("#id_customer-options option")).to_have_count(1)
    field.fill("NW-042")  # what choosing the suggestion puts in the field
    field.press("Tab")
    expect(page.locator("input[name=currency]")).to_have_value("USD")
    page.fill("input[name=amount]", "75")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#payment-amount")).to_have_text("75.00 USD")
    assert Payment.objects.get().customer == northwind


def test_a_list_filtered_by_a_typed_code_keeps_it_in_the_url(staff_page, northwind):
    page = staff_page
    payment(northwind, "20", reference="NW-PAY")
    payment(None, "30", currency="SGD", reference="OTHER-PAY")
    page.goto("/payments/")
    page.fill("#id_customer", "nw-042")
    page.press("#id_customer", "Enter")
    page.wait_for_url(re.compile(r"customer=nw-042"))
    expect(page.locator("#payment-table tbody tr")).to_have_count(1)
    expect(page.locator("#payment-table tbody")).to_contain_text("NW-PAY")
    page.reload()
    expect(page.locator("#id_customer")).to_have_value("nw-042")
    expect(page.locator("#payment-table tbody tr")).to_have_count(1)
    page.goto(f"/payments/?customer={northwind.pk}")  # a link by pk shows the code
    expect(page.locator("#id_customer")).to_have_value("NW-042")
    page.fill("#id_customer", "NOPE")
    page.press("#id_customer", "Enter")
    expect(page.locator("#payment-table")).to_contain_text("There is no customer with the code NOPE.")


def test_without_javascript_a_typed_code_records_the_credit_note_and_the_withdrawal(browser, live_server,
                                                                                      transactional_db):
    from tests.conftest import sign_in
    from tests.factories import PASSWORD, finance_user

    cust = customer(name="Northwind Traders", code="NW-042")
    payment(cust, "100")
    finance_user(username="nojs")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, "nojs", PASSWORD)
    page.goto("/credit-notes/new/")
    page.fill("input[name=customer]", "nw-042")
    page.fill("input[name=amount]", "10")
    page.fill("input[name=reason]", "Goodwill")
    page.get_by_role("button", name=re.compile("Issue|Create|Save")).click()
    page.wait_for_load_state()
    assert CreditNote.objects.get().customer == cust
    page.goto("/withdrawals/new/")
    page.fill("input[name=customer]", "NW-042")
    page.fill("input[name=amount]", "5")
    page.get_by_role("button", name=re.compile("Record|Create|Save")).click()
    page.wait_for_load_state()
    assert Withdrawal.objects.get().customer == cust
    context.close()
