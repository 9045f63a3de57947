"""Issue 23's page defects in a real browser: the new payment's currency follows the customer (defect 3); a
form that moves money is sent once, its button disabled while the request is in flight (defect 8)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from finance.models import Payment
from tests.finance.factories import customer

pytestmark = pytest.mark.browser


def test_the_new_payments_currency_follows_the_chosen_customer(staff_page):
    page = staff_page
    customer(name="Singapore Pte Ltd")
    dollars = customer(name="Dollar Corp", currency="USD")
    page.goto("/payments/new/")
    currency = page.locator("input[name=currency]")
    expect(currency).to_have_value("SGD")
    expect(currency).not_to_have_attribute("readonly", "")
    page.fill("input[name=customer]", dollars.code)
    page.press("input[name=customer]", "Tab")
    expect(currency).to_have_value("USD")
    expect(currency).to_have_attribute("readonly", "")
    expect(page.locator("#currency-field")).to_contain_text("Dollar Corp pays in USD.")
    page.fill("input[name=amount]", "250")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#payment-amount")).to_have_text("250.00 USD")
    assert Payment.objects.get().currency == "USD"
    page.goto("/payments/new/")
    page.fill("input[name=customer]", dollars.code)
    page.press("input[name=customer]", "Tab")
    expect(currency).to_have_value("USD")
    page.fill("input[name=customer]", "")
    page.press("input[name=customer]", "Tab")
    expect(currency).to_have_value("SGD")
    expect(currency).not_to_have_attribute("readonly", "")
    assert page.console_errors == []


SPY = """() => {
  // Looks at the form a moment after it is sent, and sends it again: what it saw survives the navigation.
  document.addEventListener("submit", (e) => {
    if (e.target.hasAttribute("data-spied")) { sessionStorage.setItem("second-prevented", String(e.defaultPrevented)); return; }
    e.target.setAttribute("data-spied", "");
    setTimeout(() => {
      const form = e.target, button = form.querySelector("button[type=submit]");
      sessionStorage.setItem("disabled", String(button.disabled));
      sessionStorage.setItem("busy", String(form.getAttribute("aria-busy")));
      form.requestSubmit();
    }, 0);
  });
}"""


def test_the_create_button_is_disabled_while_the_post_is_in_flight_and_a_second_submit_sends_nothing(staff_page):
    page = staff_page
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto("/payments/new/")
    page.evaluate(SPY)
    page.fill("input[name=amount]", "100")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#payment-amount")).to_have_text("100.00 SGD")
    seen = page.evaluate("() => [sessionStorage.getItem('disabled'), sessionStorage.getItem('busy'), "
                         "sessionStorage.getItem('second-prevented')]")
    assert seen == ["true", "true", "true"]
    assert len([u for u in posts if u.endswith("/payments/new/")]) == 1
    assert Payment.objects.count() == 1


def test_the_auto_top_up_runs_page_fits_1280_to_1440_px_and_shows_one_time_zone(staff_page):
    from django.utils import timezone

    from finance.models import TopUpMethod
    from finance.services.auto_top_up import run_daily_auto_top_up
    from tests.finance.auto_top_up_support import SYSTEM, customer_with, wallet

    wallet("100000")
    for n, method in enumerate([TopUpMethod.MASTER_ACCOUNT, TopUpMethod.CHEQUE_TT] * 3):
        customer_with(method, name=f"Long Organization Name Holdings {n} Pte Ltd", code=f"LONGCODE{n}",
                      credits="10.123456", trigger="1000000", threshold="1000.5")
    run = run_daily_auto_top_up(run_date=timezone.localdate(), actor=SYSTEM, email_via_celery=False)
    page = staff_page
    for width in (1280, 1400, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/auto-top-up/runs/")
        expect(page.locator("[data-decision]")).to_have_count(6)
        page.screenshot(path=f"/tmp/d2shots/browser-runs-{width}.png", full_page=True)
        overflow = page.evaluate("""() => [document.documentElement.scrollWidth - document.documentElement.clientWidth,
            ...[...document.querySelectorAll('.table-wrap')].map(t => t.scrollWidth - t.clientWidth)]""")
        assert overflow == [0] * len(overflow), (width, overflow)
    started = timezone.localtime(run.started_at)
    expect(page.locator(f"tr[data-run-id='{run.pk}']")).to_contain_text(f"{started:%Y-%m-%d %H:%M:%S} +08:00")
    expect(page.locator("#id_run")).to_contain_text(f"{started:%Y-%m-%d %H:%M:%S} +08:00")
    expect(page.locator("#time-zone")).to_have_text("Times: Asia/Singapore (UTC+08:00)")


def test_the_payment_page_explains_its_figures_and_colours_usable_credits_like_the_others(staff_page):
    from tests.finance.factories import payment

    pay = payment(customer(name="Initech", credit_limit="50"), "100")
    page = staff_page
    for width in (1280, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/payments/{pay.pk}/")
        page.screenshot(path=f"/tmp/d2shots/browser-payment-{width}.png", full_page=True)
    facts = page.locator("#payment-position")
    expect(facts).to_contain_text("Unallocated payments")
    expect(facts).to_contain_text("Credits held")
    expect(page.get_by_text("Credit balance")).to_have_count(0)
    colour = "el => getComputedStyle(el).color"
    usable = page.locator("dt:text-is('Usable credits') + dd .amount")
    amount_due = page.locator("dt:text-is('Amount due') + dd .amount")
    expect(usable).to_have_text("150.00 SGD CR")
    assert usable.evaluate(colour) == amount_due.evaluate(colour) != page.locator("dt:text-is('Usable credits')").evaluate(colour)
    zero = page.locator("dt:text-is('Expecting invoice') + dd .amount")
    expect(zero).to_have_text("0.00 SGD")
    assert zero.evaluate(colour) != amount_due.evaluate(colour)  # zero is neutral, not a green CR
    assert page.console_errors == []


def test_in_development_an_unknown_address_shows_the_projects_404_page(page, settings, transactional_db):
    settings.DEBUG = True  # as bin/run sets it
    response = page.goto("/portal/no-such-page/")
    assert response.status == 404
    expect(page.locator("#not-found h1")).to_have_text("Page not found")
    expect(page.locator("#not-found a")).to_have_attribute("href", "/portal/")
    body = page.locator("body").inner_text()
    assert "URLconf" not in body and "urlpatterns" not in body and "admin/" not in body
