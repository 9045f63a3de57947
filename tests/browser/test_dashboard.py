import pytest

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
