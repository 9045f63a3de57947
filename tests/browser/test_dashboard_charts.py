"""The dashboard's charts in a real browser: Chart.js (vendored) draws each one from the json_script data with no
CSP violation, the table each is drawn from stays in the page, a bar and a table cell lead to the filtered list
behind them, and the page fits 1280 and 1440 px wide screens."""

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backoffice.selectors import month_periods
from customers.models import InvoiceSetup
from finance.models import AutoTopUp, PaymentMethod
from tests.finance.factories import customer, monthly_invoice, payment

pytestmark = pytest.mark.browser
D = Decimal


@pytest.fixture
def book(transactional_db):
    today = timezone.localdate()
    sgd = customer(InvoiceSetup.INDIVIDUAL, currency="SGD", code="SG1", name="Lion Trading")
    usd = customer(InvoiceSetup.INDIVIDUAL, currency="USD", code="US1", name="Eagle Corp")
    months = month_periods(today)
    for i, period in enumerate(months):
        payment(sgd, f"{100 + i}", received_date=period.first, method=PaymentMethod.BANK_TRANSFER)
        if i % 3 == 0:
            payment(sgd, "40", received_date=period.first, method=PaymentMethod.CHEQUE)
    payment(usd, "200", received_date=today, method=PaymentMethod.TELEGRAPHIC_TRANSFER)
    monthly_invoice(sgd, "80", issue_date=today - dt.timedelta(days=45), due_date=today - dt.timedelta(days=40))
    monthly_invoice(sgd, "25", issue_date=today - dt.timedelta(days=5), due_date=today + dt.timedelta(days=25))
    AutoTopUp.objects.create(customer=sgd, run_date=today - dt.timedelta(days=2), status="failed",
                             method="master_account", amount=D("10"), currency="SGD", usable_credits_before=D("0"),
                             limit_threshold=D("500"), reason="The master account is too low.",
                             created_at=timezone.now(), completed_at=timezone.now())
    return {"today": today, "months": months}


def _drawn(page, chart_id: str) -> bool:
    """The canvas was drawn by Chart.js and holds coloured pixels (not a blank canvas)."""
    return page.evaluate("""id => {
        const c = document.getElementById(id);
        if (!c || c.dataset.drawn !== "true" || !window.Chart.getChart(c)) return false;
        const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) return true; }
        return false;
    }""", chart_id)


def test_the_charts_render_within_the_csp_with_their_tables(staff_page, book):
    page = staff_page
    page.goto("/")
    for chart_id in ("chart-cash-SGD", "chart-aged-SGD", "chart-auto-SGD", "chart-cash-USD"):
        expect(page.locator(f"#{chart_id}")).to_have_attribute("data-drawn", "true")
        assert _drawn(page, chart_id), chart_id
        table = page.locator(f'[data-chart-table="{chart_id}"]')
        expect(table).to_have_count(1)
        expect(table).not_to_have_attribute("open", "")  # drawn: the table is one click away
    assert page.locator("#chart-aged-USD").count() == 0  # nothing owed in USD: no chart
    # The table under a chart: opened, it gives the figures the bars are drawn from.
    page.locator('[data-chart-table="chart-cash-SGD"] summary').click()
    cash = page.locator("#cash-SGD")
    expect(cash).to_be_visible()
    expect(cash.locator("tbody tr")).to_have_count(12)
    expect(cash.locator("tbody tr").last).to_contain_text("111.00")
    assert page.console_errors == []  # a CSP violation or a script error would be reported here


def test_a_table_cell_and_a_bar_lead_to_the_filtered_list(staff_page, book):
    page = staff_page
    page.goto("/")
    page.locator('[data-chart-table="chart-cash-SGD"] summary').click()
    last = book["months"][-1]
    page.locator("#cash-SGD tbody tr").last.locator("td").nth(1).locator("a").click()  # bank transfer, this month
    page.wait_for_url("**/payments/?**")
    assert f"received_from={last.first.isoformat()}" in page.url and "method=bank_transfer" in page.url
    expect(page.locator("#id_currency")).to_have_value("SGD")
    expect(page.locator("#payment-table tbody tr")).to_have_count(1)
    expect(page.locator("#payment-table tbody tr")).to_contain_text("111.00 SGD")

    page.goto("/")
    # Click the aged receivables' 31-60 bar where Chart.js drew it.
    point = page.evaluate("""() => {
        const c = document.getElementById("chart-aged-SGD");
        c.scrollIntoView({block: "center"});
        const bar = window.Chart.getChart(c).getDatasetMeta(0).data[2];
        const box = c.getBoundingClientRect();
        return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
    }""")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url("**/reports/aged-receivables/?currency=SGD")
    expect(page.locator("main")).to_contain_text("Lion Trading")
    assert page.console_errors == []


@pytest.mark.parametrize("width", [1280, 1440])
def test_the_page_fits_the_screen(staff_page, book, width, tmp_path):
    page = staff_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/")
    expect(page.locator("#chart-cash-SGD")).to_have_attribute("data-drawn", "true")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for chart_id in ("chart-cash-SGD", "chart-aged-SGD", "chart-auto-SGD"):
        box = page.locator(f"#{chart_id}").bounding_box()
        assert box["width"] > 200 and box["height"] > 150, (chart_id, box)
    shots = os.environ.get("LEDGERDESK_SCREENSHOTS")  # a folder to keep them in, to look at
    page.screenshot(path=os.path.join(shots or str(tmp_path), f"dashboard-{width}.png"), full_page=True)
    assert page.console_errors == []
