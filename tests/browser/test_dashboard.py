import pytest
from playwright.sync_api import expect

from customers.models import TransactionKind
from tests.customers.factories import CustomerFactory, ledger_post

pytestmark = pytest.mark.browser


def test_staff_signs_in_and_sees_the_dashboard(staff_page):
    page = staff_page
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("nav.nav").is_visible()
    assert page.console_errors == []


def test_a_wrong_password_shows_a_clear_message(page, transactional_db):
    from tests.conftest import sign_in
    from tests.factories import finance_user

    finance_user(username="finance")
    sign_in(page, "finance", "not-the-password")
    assert "Please enter a correct username and password" in page.locator(".alert-error").inner_text()


def test_the_totals_are_shown_per_currency(staff_page):
    ledger_post(CustomerFactory(currency="SGD"), TransactionKind.CALL, "-10.50")
    ledger_post(CustomerFactory(currency="USD"), TransactionKind.CALL, "-20.25")
    page = staff_page
    page.goto("/")
    totals = page.locator("#currency-totals tbody tr")
    expect(totals).to_have_count(2)
    expect(page.locator('tr[data-currency="SGD"] [data-figure="unbilled"]')).to_have_text("-10.50 SGD DR")
    expect(page.locator('tr[data-currency="USD"] [data-figure="unbilled"]')).to_have_text("-20.25 USD DR")
    expect(page.locator("#currency-totals")).not_to_contain_text("30.75")
    assert page.console_errors == []


def test_the_bank_lines_to_reconcile_open_the_inbox_of_their_currency(staff_page):
    from tests.backoffice.test_dashboard_figures import _bank_lines

    _bank_lines("SGD")
    page = staff_page
    page.goto("/")
    figure = page.locator('[data-currency-section="SGD"] [data-figure="unreconciled"]')
    expect(figure.locator(".value")).to_have_text("2")
    expect(figure).to_contain_text("1 in, 100.00 SGD")
    expect(figure).to_contain_text("1 out, -20.00 SGD")
    figure.click()
    page.wait_for_url("**/bank/reconcile/?currency=SGD")
    expect(page.locator("#id_currency")).to_have_value("SGD")
    expect(page.locator("main")).to_contain_text("SGD Lion Trading")
    expect(page.locator("main")).to_contain_text("SGD Bank charge")
    expect(page.locator("main")).not_to_contain_text("SGD Someone")  # ignored: no longer to reconcile
    assert page.console_errors == []


def test_the_scanning_figures_are_as_of_their_snapshot_and_refreshed_on_demand(staff_page):
    import re

    from django.utils import timezone

    from tests.finance.factories import customer, payment

    lion = customer(currency="SGD", name="Lion Trading")
    payment(lion, "100", received_date=timezone.localdate())
    page = staff_page
    page.goto("/")
    cash = page.locator('[data-currency-section="SGD"] [data-figure="cash-total"]')
    expect(page.locator("#dashboard-as-of")).to_contain_text("Figures as of now")  # no snapshot yet: computed now
    expect(cash).to_contain_text("100.00 SGD in 1 payment")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#dashboard-as-of")).to_contain_text(
        re.compile(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00 \(refreshed every 5 minutes\)"))  # the one time format
    payment(lion, "50", received_date=timezone.localdate())
    page.reload()  # read from the snapshot: the later payment is not in the cash received yet
    expect(cash).to_contain_text("100.00 SGD in 1 payment")
    page.get_by_role("button", name="Refresh now").click()
    expect(cash).to_contain_text("150.00 SGD in 2 payments")
    assert page.console_errors == []
