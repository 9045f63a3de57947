"""Every portal page is usable on a phone (390 px wide): nothing makes the page scroll sideways, and on each
page the amounts, statuses and actions are on screen (tables become stacked rows). Screenshots at 390 and
1280 px go to /tmp/portal-shots/ (PORTAL_SHOTS overrides) for a person to look at."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
from decimal import Decimal

import pytest

pytestmark = pytest.mark.browser

PHONE = 390
SHOTS = pathlib.Path(os.environ.get("PORTAL_SHOTS", "/tmp/portal-shots"))


@pytest.fixture
def acme_with_history(transactional_db):
    """A customer with something on every page: credits, open / paid / monthly invoices (one whose number,
    name and amounts are long), transactions, notifications, card payments and an audit trail."""
    from django.utils import timezone

    from audit.actors import Actor
    from customers.models import Customer, NotificationKind
    from customers.services import master_wallet_transfer
    from finance.models import CardPayment, CardPaymentPurpose, CardPaymentStatus
    from finance.services.allocation import invoice_pay_with_credits
    from finance.services.auto_top_up import payment_settings_update_from_portal
    from tests.customers.factories import NotificationFactory, funded_wallet, portal_user, top_up
    from tests.finance.factories import customer, monthly_invoice, purchase_invoice

    staff = Actor(kind="staff", label="finance-jane", user_id=9)
    acme = customer(name="Acme Telecommunications International Pte Ltd", code="ACME",
                    billing_email="accounts-payable.department@acme-telecommunications.example")
    portal_user(acme, "acme")
    top_up(acme, "250")
    funded_wallet("100000")
    master_wallet_transfer(customer_id=acme.pk, amount=Decimal("1234.567891"), actor=staff,
                           at=dt.datetime(2026, 3, 14, 2, 0, tzinfo=dt.UTC))
    paid = purchase_invoice(acme, "60")
    invoice_pay_with_credits(invoice=paid, amount=Decimal("60"), actor=staff)
    monthly_invoice(acme, "1610.81544")
    big = purchase_invoice(acme, "98765.43")  # more than the credits: the pay page offers a card top-up
    other = purchase_invoice(acme, "1234.5")  # paid together with `big` on the "Pay selected" confirm page
    # a saved card and card auto top-up (as a portal top-up with "save card" leaves them), and a card payment
    Customer.objects.filter(pk=acme.pk).update(stripe_customer_id="cus_phone", stripe_payment_method_id="pm_phone",
                                               card_brand="visa", card_last4="4242", card_exp_month=12,
                                               card_exp_year=2030)
    payment_settings_update_from_portal(customer_id=acme.pk, trigger_amount=Decimal("30"),
                                        limit_threshold=Decimal("20"), actor=staff)
    CardPayment.objects.create(customer=acme, purpose=CardPaymentPurpose.TOP_UP, channel="checkout",
                               idempotency_key="phone-1", amount=Decimal("50"),
                               amount_charged=Decimal("50"), currency="SGD", status=CardPaymentStatus.FAILED,
                               failure_reason="Your card was declined.", created_at=timezone.now())
    for i in range(3):
        NotificationFactory(customer=acme, kind=NotificationKind.INVOICE,
                            subject=f"Your invoice INV-2026-00000{i} from Ledgerdesk Reseller Pte Ltd is ready")
    return acme, big, other


ON_SCREEN = """(el, width) => {
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height) return "has no size";
  const left = r.left + window.scrollX, right = r.right + window.scrollX;
  if (left < -0.5 || right > width + 0.5) return `lies at x ${Math.round(left)} to ${Math.round(right)}`;
  for (let a = el.parentElement; a; a = a.parentElement) {
    if (!/(auto|scroll|hidden|clip)/.test(getComputedStyle(a).overflowX)) continue;
    const box = a.getBoundingClientRect();
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5) return `is cut off by <${a.tagName.toLowerCase()} class="${a.className}">`;
  }
  return "";
}"""

OVERFLOWING = """() => [...document.querySelectorAll('.panel, .figure, .portal-bar, .page-head')]
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => `<${el.tagName.toLowerCase()} class="${el.className}"> holds ${el.scrollWidth} px in ${el.clientWidth}`)"""


def _on_screen(locator, width: int = PHONE) -> None:
    """Visible without scrolling sideways: inside the page's width and not cut off by a scrolling box."""
    assert locator.count(), f"nothing matches {locator}"
    first = locator.first
    assert first.is_visible(), f"{locator} is not visible"
    problem = first.evaluate(ON_SCREEN, width)
    assert not problem, f"{locator} {problem}"


def _problems(page, name: str, width: int, visible: list[str]) -> list[str]:
    found = []
    page_width = page.evaluate("document.documentElement.scrollWidth")
    if page_width > width:
        found.append(f"{name}: the page is {page_width} px wide")
    found += [f"{name}: {text}" for text in page.evaluate(OVERFLOWING)]
    for selector in visible:
        try:
            _on_screen(page.locator(selector), width)
        except AssertionError as exc:
            found.append(f"{name}: {exc}")
    return found


def _shot(page, name: str, width: int) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


PAGES = [
    # name, path (with {big} for the open invoice's id), what must be on screen at 390 px
    ("home", "/portal/", ["[data-figure=usable-credits] .amount", "[data-figure=current-balance] .amount",
                          "a[aria-label^='Pay']", "main .amount"]),
    ("invoices", "/portal/invoices/", ["tr[data-invoice] td.num", "tr[data-invoice] .badge",
                                       "tr[data-invoice] a[aria-label^='Pay']",
                                       "tr[data-invoice] a[aria-label^='Download']",
                                       "tr[data-invoice] input[type=checkbox]", "button:has-text('Pay selected')"]),
    ("pay", "/portal/invoices/{big}/pay/", ["[data-outstanding]", "[data-shortfall]", "main .badge",
                                           "button:has-text('Top up by card and pay')"]),
    ("pay-several", "/portal/invoices/pay/?invoice={big}&invoice={other}", [
        "#selected-invoices td.num", "#selected-invoices .badge", "[data-credits]", "[data-card-charge]",
        "button:has-text('by card')"]),
    ("top-up", "/portal/top-up/", ["input[name=amount]", "button:has-text('Continue to payment')",
                                   "main .amount"]),
    ("card", "/portal/card/", ["[data-card]", "[data-auto-top-up] .badge", "[data-trigger-amount]",
                               "button:has-text('Remove card')", "button:has-text('Save amounts')"]),
    ("payments", "/portal/payments/", ["tr[data-payment] td.num", "tr[data-payment] .badge",
                                       "a:has-text('Export CSV')"]),
    ("transactions", "/portal/transactions/", ["main td.num .amount", "a:has-text('Export CSV')"]),
    ("notifications", "/portal/notifications/", ["main td .badge", "a:has-text('Export CSV')"]),
    ("audit", "/portal/audit/", ["#audit-events td[data-label=What]", "#audit-events .diff .ins",
                                 "a:has-text('Export CSV')"]),
]


def test_every_portal_page_fits_a_phone_and_keeps_amounts_status_and_actions_on_screen(
        browser, live_server, acme_with_history):
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    acme, big, other = acme_with_history
    context = browser.new_context(base_url=live_server.url, viewport={"width": PHONE, "height": 844},
                                  device_scale_factor=1, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, "acme", PASSWORD, path="/portal/login/")
        page.wait_for_url("**/portal/")
        problems = []
        for name, path, visible in PAGES:
            page.goto(path.format(big=big.pk, other=other.pk))
            _shot(page, name, PHONE)
            problems += _problems(page, name, PHONE, [*visible, "nav.portal-nav a.active",
                                                      "nav.portal-nav a:last-child", "button:has-text('Sign out')"])
        assert not problems, "\n".join(problems)
        page.goto(f"/portal/invoices/{big.pk}/pay/")
        for total in ("subtotal", "tax", "total"):  # each total on one line: its label beside its amount
            label, amount = (page.locator(f"#invoice-totals td:has(+ [data-total={total}])").bounding_box(),
                             page.locator(f"#invoice-totals [data-total={total}]").bounding_box())
            assert abs(label["y"] - amount["y"]) < 4 and label["x"] < amount["x"], total
        assert errors == []
    finally:
        context.close()


def test_the_portal_pages_at_desktop_width(browser, live_server, acme_with_history):
    """The same pages at 1280 px: no sideways scroll, and the screenshots to compare with the phone's."""
    from tests.conftest import sign_in
    from tests.factories import PASSWORD

    acme, big, other = acme_with_history
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, "acme", PASSWORD, path="/portal/login/")
        page.wait_for_url("**/portal/")
        problems = []
        for name, path, visible in PAGES:
            page.goto(path.format(big=big.pk, other=other.pk))
            _shot(page, name, 1280)
            problems += _problems(page, name, 1280, visible)
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_the_sign_in_page_fits_a_phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": PHONE, "height": 844})
    page = context.new_page()
    try:
        page.goto("/portal/login/")
        _shot(page, "sign-in", PHONE)
        problems = _problems(page, "sign-in", PHONE, ["button[type=submit]", "input[name=password]"])
        assert not problems, "\n".join(problems)
    finally:
        context.close()
