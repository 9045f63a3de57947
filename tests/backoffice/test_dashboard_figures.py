"""The dashboard's figures, per currency: cash received by month and method, aged receivables, payments not yet
applied, top-up invoices and auto top-ups of the 30 days, credits at or below threshold, reservations in flight.
Each figure links to the list behind it, and that list, followed, holds the rows the figure counts. The page
takes the same number of queries whatever the rows."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.selectors import Tally, dashboard, month_periods
from customers.models import InvoiceSetup
from customers.services import reservation_reserve
from finance.models import AutoTopUp, AutoTopUpDecision, AutoTopUpRun, PaymentMethod
from finance.services.aged_receivables import aged_receivables_refresh
from finance.services.auto_top_up import payment_settings_update
from tests.customers.factories import postpaid
from tests.finance.factories import SYSTEM, customer, monthly_invoice, payment, top_up_invoice

pytestmark = pytest.mark.django_db
D = Decimal


def _months_ago(today: dt.date, months: int) -> dt.date:
    return month_periods(today, months + 1)[0].first


@pytest.fixture
def book():
    """Two currencies' worth of rows behind every figure."""
    today = timezone.localdate()
    sgd = customer(InvoiceSetup.INDIVIDUAL, currency="SGD", code="SG1", name="Lion Trading")
    usd = customer(InvoiceSetup.INDIVIDUAL, currency="USD", code="US1", name="Eagle Corp")
    payment(sgd, "100", received_date=today, method=PaymentMethod.BANK_TRANSFER)
    payment(sgd, "50", received_date=_months_ago(today, 2), method=PaymentMethod.CHEQUE)
    payment(sgd, "70", received_date=_months_ago(today, 13), method=PaymentMethod.CASH)  # before the 12 months
    payment(None, "30", currency="SGD", received_date=today, method=PaymentMethod.BANK_TRANSFER)  # unassigned
    payment(usd, "200", received_date=today, method=PaymentMethod.TELEGRAPHIC_TRANSFER)
    monthly_invoice(sgd, "80", issue_date=today - dt.timedelta(days=45), due_date=today - dt.timedelta(days=40))
    top_up_invoice(usd, "100")
    now = timezone.now()
    failed = AutoTopUp.objects.create(customer=sgd, run_date=today, status="failed", method="master_account",
                                      amount=D("10"), currency="SGD", usable_credits_before=D("0"),
                                      limit_threshold=D("500"), reason="The master account is too low.",
                                      created_at=now, completed_at=now)
    run = AutoTopUpRun.objects.create(run_date=today, trigger="staff", started_at=now, finished_at=now)
    AutoTopUpDecision.objects.create(run=run, run_date=today, customer=sgd, decision="failed", method="master_account",
                                     reason=failed.reason, auto_top_up=failed, decided_at=now)
    payment_settings_update(customer_id=sgd.pk, method="cheque_tt", auto_top_up_enabled=True, trigger_amount="100",
                            limit_threshold="500", actor=SYSTEM)
    caller = postpaid("100", currency="SGD", code="SG2", name="Merlion Calls")
    reservation_reserve(customer_id=caller.pk, amount=D("20"), actor=SYSTEM, at=timezone.now(), reference="call")
    sgd.refresh_from_db()
    return {"today": today, "sgd": sgd, "usd": usd, "caller": caller}


def _figures(currency: str):
    return next(f for f in dashboard().currencies if f.currency == currency)


def test_each_figure_per_currency(book):
    sgd, usd = _figures("SGD"), _figures("USD")
    assert sgd.methods == ["cheque", "bank_transfer"]  # in the payment list's order; cash came in before the 12 months
    assert sgd.cash_total == D("180")  # 100 + 50 + the unassigned 30; not the 70 of 13 months ago
    assert sgd.cash[-1].by_method["bank_transfer"].amount == D("130")
    assert sgd.cash[-1].by_method["bank_transfer"].count == 2
    assert sgd.cash[-3].by_method["cheque"].amount == D("50")
    assert len(sgd.cash) == 12
    assert usd.methods == ["telegraphic_transfer"] and usd.cash_total == D("200")
    assert sgd.open_payments["unassigned"].amount == D("30")
    # Unapplied: the payments' cash not yet allocated (the 80 invoice is open, not paid by them)
    assert sgd.unapplied_cash.amount == D("220") and sgd.unapplied_cash.count == 3
    assert usd.unapplied_cash.amount == D("200")
    assert sgd.aged["d31_60"] == D("80") and sgd.aged["total"] == D("80")
    assert "total" not in usd.aged or usd.aged["total"] == 0
    assert usd.top_up_invoices["sent"].amount == D("100") and "sent" not in sgd.top_up_invoices
    assert sgd.auto_top_up_totals["failed"].count == 1 and sgd.auto_top_up_totals["fired"].count == 0
    assert sgd.below_threshold.count == 1
    assert sgd.below_threshold.amount == D("500") - book["sgd"].usable_credits
    assert sgd.reservations["n"] == 1 and sgd.reservations["amount"] == D("20")
    assert sgd.reservations["customers"] == 1 and sgd.reservations["stale"] == 0
    assert not usd.reservations and usd.below_threshold.count == 0


def _links(html: str, section: str) -> list[str]:
    start = html.index(f'data-currency-section="{section}"')
    end = html.index("</section>", start)
    return [unescape(u) for u in re.findall(r'href="([^"#]+)"', html[start:end])]


def _count(client, url: str) -> int:
    """The row count a list says it holds ("3 payments")."""
    html = client.get(url).content.decode()
    match = re.search(r'<span class="muted"[^>]*>([\d,]+)\+? \w+', html[html.index("list-toolbar"):])
    return int(match.group(1).replace(",", ""))


def test_every_figure_links_to_the_list_that_holds_its_rows(finance_client, book):
    html = finance_client.get(reverse("dashboard")).content.decode()
    links = _links(html, "SGD")
    pay = reverse("finance:payment-list")
    # The 12 months' total by method and the month's cells: the payment list, filtered to the same rows.
    whole = month_periods(book["today"])[0].first.isoformat()
    bank = f"{pay}?currency=SGD&method=bank_transfer&received_from={whole}&received_to={book['today'].isoformat()}"
    assert bank in links and _count(finance_client, bank) == 2
    assert _count(finance_client, f"{pay}?currency=SGD&status=unallocated") == 3  # 100, 50 and 70: unapplied cash
    for url in links:
        assert finance_client.get(url).status_code == 200, url
    assert f"{pay}?currency=SGD&status=unassigned" in links
    assert _count(finance_client, f"{pay}?currency=SGD&status=unassigned") == 1
    assert f"{reverse('finance:aged-receivables')}?currency=SGD" in links
    assert f"{reverse('finance:settings-list')}?auto=due&currency=SGD" in links
    reservations = f"{reverse('customers:list')}?reservations=open&currency=SGD"
    assert reservations in links and _count(finance_client, reservations) == 1
    runs = f"{reverse('finance:auto-top-up-runs')}?date={book['today'].isoformat()}&decision=failed&currency=SGD"
    assert runs in links
    assert "Lion Trading" in finance_client.get(runs).content.decode()
    assert "Lion Trading" not in finance_client.get(runs.replace("currency=SGD", "currency=USD")).content.decode()
    usd_links = _links(html, "USD")
    top_ups = [u for u in usd_links if "type=top_up&status=sent" in u]
    assert len(top_ups) == 1 and _count(finance_client, top_ups[0]) == 1
    assert _count(finance_client, top_ups[0].replace("currency=USD", "currency=SGD")) == 0


def test_the_charts_data_is_passed_by_json_script(finance_client, book):
    html = finance_client.get(reverse("dashboard")).content.decode()
    data = json.loads(re.search(r'<script id="dashboard-charts" type="application/json">(.*?)</script>', html,
                                re.S).group(1))
    ids = [c["id"] for c in data]
    assert ids == ["chart-cash-SGD", "chart-aged-SGD", "chart-auto-SGD", "chart-cash-USD"]
    cash = data[0]
    assert len(cash["labels"]) == 12 and [d["label"] for d in cash["datasets"]] == ["Cheque", "Bank transfer"]
    assert cash["datasets"][1]["data"][-1] == "130.000000"  # a decimal string: never a float in Python
    assert cash["datasets"][1]["urls"][-1].startswith(reverse("finance:payment-list") + "?currency=SGD&method=")
    for chart_id in ids:
        assert f'id="{chart_id}"' in html  # its canvas
        assert f'data-chart-table="{chart_id}"' in html  # and its table
    assert "<script>" not in html and "onclick" not in html.lower()  # nothing inline (CSP)


def test_the_page_takes_the_same_queries_whatever_the_rows(finance_client):
    today = timezone.localdate()
    one = customer(currency="SGD")
    payment(one, "10", received_date=today)
    aged_receivables_refresh()  # as beat keeps it: the aged receivables' view holds today
    with CaptureQueriesContext(connection) as few:
        assert finance_client.get(reverse("dashboard")).status_code == 200
    for i, currency in enumerate(("SGD", "USD", "EUR", "MYR")):
        c = customer(currency=currency)
        for month in range(4):
            payment(c, "10", received_date=_months_ago(today, month), method=PaymentMethod.values[month])
        payment(None, "5", currency=currency, received_date=today)
        monthly_invoice(c, "30", issue_date=today - dt.timedelta(days=70), due_date=today - dt.timedelta(days=65))
        top_up_invoice(c, "100")
        payment_settings_update(customer_id=c.pk, method="cheque_tt", auto_top_up_enabled=True, trigger_amount="100",
                                limit_threshold="500", actor=SYSTEM)
        AutoTopUp.objects.create(customer=c, run_date=today - dt.timedelta(days=i), status="failed",
                                 method="master_account", amount=D("10"), currency=currency,
                                 usable_credits_before=D("0"), limit_threshold=D("500"), reason="Too low.",
                                 created_at=timezone.now(), completed_at=timezone.now())
        caller = postpaid("100", currency=currency)
        reservation_reserve(customer_id=caller.pk, amount=D("5"), actor=SYSTEM, at=timezone.now())
    aged_receivables_refresh()
    with CaptureQueriesContext(connection) as many:
        html = finance_client.get(reverse("dashboard")).content.decode()
    assert all(f'data-currency-section="{c}"' in html for c in ("SGD", "USD", "EUR", "MYR"))
    assert len(many) == len(few)
    dashboard_queries = [q["sql"] for q in many.captured_queries if "django_session" not in q["sql"]
                         and "auth_user" not in q["sql"] and "auth_group" not in q["sql"]]
    # aged receivables: 2; the dashboard snapshot: 1 (none here: its figures computed now, 4 queries)
    assert len(dashboard_queries) == 11, dashboard_queries


def test_the_months_end_with_today_and_each_is_a_calendar_month():
    months = month_periods(dt.date(2026, 3, 15))
    assert len(months) == 12
    assert (months[0].first, months[0].last) == (dt.date(2025, 4, 1), dt.date(2025, 4, 30))
    assert (months[10].first, months[10].last) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert (months[-1].first, months[-1].last) == (dt.date(2026, 3, 1), dt.date(2026, 3, 15))


def test_a_viewer_sees_the_dashboard_too(viewer_client, book):
    assert viewer_client.get(reverse("dashboard")).status_code == 200


def test_an_empty_book_shows_the_page_without_charts(finance_client):
    html = finance_client.get(reverse("dashboard")).content.decode()
    assert "No customers yet." in html
    assert '<script id="dashboard-charts" type="application/json">[]</script>' in html


def _bank_lines(currency: str = "SGD", iban: str = "SG12DBSS00001234567890"):
    """A statement in `currency` with money in (100, 50.25) and out (20); the 50.25 ignored."""
    from banking.models import StatementLine
    from banking.services.imports import statement_import
    from banking.services.reconcile import statement_line_ignore
    from tests.banking.factories import bank_account, camt053

    account = bank_account(f"bank-{currency.lower()}", currency=currency, iban=iban)
    content = camt053([{"amount": "100.00", "ref": f"{currency}-A", "name": f"{currency} Lion Trading"},
                       {"amount": "50.25", "ref": f"{currency}-B", "name": f"{currency} Someone"},
                       {"amount": "20.00", "sign": "DBIT", "ref": f"{currency}-C", "name": f"{currency} Bank charge"}],
                      iban=iban, currency=currency)
    statement_import(account_id=account.pk, file_name="s.xml", content=content, actor=SYSTEM, at=timezone.now())
    ignored = StatementLine.objects.get(bank_reference=f"{currency}-B")
    statement_line_ignore(line_id=ignored.pk, reason="Internal transfer", actor=SYSTEM, at=timezone.now())
    return account


def test_bank_lines_to_reconcile_per_currency_link_to_the_inbox_of_that_currency(finance_client, book):
    _bank_lines("SGD")
    _bank_lines("USD", iban="US12DBSS00001234567891")
    sgd = _figures("SGD")
    assert (sgd.unreconciled_in, sgd.unreconciled_out) == (Tally(1, D("100")), Tally(1, D("-20")))
    html = unescape(finance_client.get(reverse("dashboard")).content.decode())
    section = html.split('data-currency-section="SGD"')[1].split("data-currency-section=")[0]
    link = re.search(r'data-figure="unreconciled" href="([^"]*)"', section).group(1)
    assert link == "/bank/reconcile/?currency=SGD"
    inbox = finance_client.get(link).content.decode()
    assert "SGD Lion Trading" in inbox and "SGD Bank charge" in inbox
    assert "USD Lion" not in inbox and "SGD Someone" not in inbox
