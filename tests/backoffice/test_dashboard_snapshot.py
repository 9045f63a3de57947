"""The dashboard's snapshot: the scanning figures (customer totals, cash received by month and method, credits at
or below threshold, bank lines to reconcile) are read from the latest snapshot of the day, taken by the same
queries that compute them live, refreshed by Celery beat and by the page's Refresh button; the page says as of
when. Before the day's first snapshot the page computes them now."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import unescape

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.models import DashboardSnapshot
from backoffice.selectors import SNAPSHOT, dashboard, figure_rows
from backoffice.services import dashboard_refresh
from common.templatetags.pages import local_time
from customers.models import TransactionKind
from finance.models import PaymentMethod
from finance.services.aged_receivables import aged_receivables_refresh
from tests.backoffice.test_dashboard_figures import _bank_lines, _months_ago, book  # noqa: F401 - the fixture
from tests.customers.factories import CustomerFactory, ledger_post
from tests.finance.factories import customer, payment

pytestmark = pytest.mark.django_db
D = Decimal


def _cash_total(html: str, currency: str) -> str:
    section = unescape(html).split(f'data-currency-section="{currency}"')[1]
    return re.search(r'data-figure="cash-total">([^<]*)<', section).group(1)


def test_the_snapshots_figures_equal_the_live_ones_on_the_same_data(book):  # noqa: F811
    _bank_lines("SGD")
    ledger_post(CustomerFactory(currency="USD"), TransactionKind.CALL, "-20.25")
    live = dashboard()
    assert live.snapshot_taken_at is None  # no snapshot yet: every figure computed now
    snapshot = dashboard_refresh()
    read = dashboard()
    assert read.snapshot_taken_at == snapshot.taken_at
    assert read.currencies == live.currencies and read.customers == live.customers
    sgd = next(f for f in read.currencies if f.currency == "SGD")
    assert sgd.cash_total == D("180") and sgd.below_threshold.count == 1 and sgd.unreconciled_in.count == 1
    assert sgd.customers["count"] == 2  # Lion Trading and Merlion Calls: a figure of each kind is really in it
    # the rows come back from the database as the queries gave them: Decimal amounts, dates, counts
    stored = DashboardSnapshot.objects.get(pk=snapshot.pk).figures
    assert stored == figure_rows(SNAPSHOT, snapshot.day, snapshot.taken_at)
    assert any(isinstance(r["month"], dt.date) and isinstance(r["amount"], Decimal) for r in stored["cash"])


def test_the_page_shows_the_snapshot_and_its_time_until_refreshed(finance_client):
    today = timezone.localdate()
    sgd = customer(currency="SGD")
    payment(sgd, "100", received_date=today, method=PaymentMethod.BANK_TRANSFER)
    html = finance_client.get(reverse("dashboard")).content.decode()
    assert "Figures as of now" in html and _cash_total(html, "SGD").startswith("100.00 SGD in 1 payment")
    snapshot = dashboard_refresh()
    payment(sgd, "50", received_date=today, method=PaymentMethod.BANK_TRANSFER)  # after the snapshot
    html = unescape(finance_client.get(reverse("dashboard")).content.decode())
    assert f"as of {local_time(snapshot.taken_at)} (refreshed every 5 minutes)" in html
    assert re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \(refreshed", html)  # the one time format
    assert _cash_total(html, "SGD").startswith("100.00 SGD in 1 payment")  # as of the snapshot
    unapplied = html.split('data-figure="unapplied">')[1].split("</div>\n    </div>")[0]
    assert "100.00 SGD" in unapplied  # unapplied cash: every figure as of the snapshot
    response = finance_client.post(reverse("dashboard-refresh"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    html = finance_client.get(reverse("dashboard")).content.decode()
    assert _cash_total(html, "SGD").startswith("150.00 SGD in 2 payments")


def test_the_refresh_button_takes_a_snapshot_for_any_staff_and_only_by_post(finance_client, viewer_client, client):
    html = finance_client.get(reverse("dashboard")).content.decode()
    assert f'action="{reverse("dashboard-refresh")}"' in html and "Refresh now" in html
    assert finance_client.get(reverse("dashboard-refresh")).status_code == 405
    assert viewer_client.post(reverse("dashboard-refresh")).status_code == 302  # changes no data: a viewer may ask
    assert DashboardSnapshot.objects.count() == 1
    client.logout()
    assert client.post(reverse("dashboard-refresh")).status_code == 302  # to the sign-in page
    assert DashboardSnapshot.objects.count() == 1


def test_an_htmx_refresh_reloads_the_page(finance_client):
    response = finance_client.post(reverse("dashboard-refresh"), headers={"HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("dashboard")


def test_the_beat_task_refreshes_the_snapshot_and_keeps_the_latest_only():
    from backoffice.tasks import refresh_dashboard

    assert settings.CELERY_BEAT_SCHEDULE["refresh-dashboard"]["task"] == "backoffice.tasks.refresh_dashboard"
    assert dashboard().snapshot_taken_at is None
    first = refresh_dashboard()
    assert dashboard().snapshot_taken_at.isoformat() == first
    second = refresh_dashboard()
    assert second > first and dashboard().snapshot_taken_at.isoformat() == second
    assert DashboardSnapshot.objects.count() == 1


def test_a_snapshot_of_another_day_is_not_read():
    today = timezone.localdate()
    c = customer(currency="SGD")
    payment(c, "100", received_date=today - dt.timedelta(days=1))
    dashboard_refresh(now=timezone.now() - dt.timedelta(days=1))  # yesterday's: its 12 months end yesterday
    payment(c, "40", received_date=today)
    d = dashboard()
    assert d.snapshot_taken_at is None  # today's figures computed now
    assert next(f for f in d.currencies if f.currency == "SGD").cash_total == D("140")


def test_a_snapshot_taken_before_a_figure_was_added_to_it_is_not_read(finance_client):
    """A release that adds a figure to SNAPSHOT meets the snapshot the previous release took: the page computes
    the figures now (it answered 500, KeyError, when it read the old snapshot) until the next refresh."""
    c = customer(currency="SGD")
    payment(c, "100", received_date=timezone.localdate())
    snapshot = dashboard_refresh()
    missing = SNAPSHOT[-1]
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(
        figures={name: rows for name, rows in snapshot.figures.items() if name != missing})
    d = dashboard()
    assert d.snapshot_taken_at is None
    assert next(f for f in d.currencies if f.currency == "SGD").cash_total == D("100")
    response = finance_client.get(reverse("dashboard"))
    assert response.status_code == 200 and "Figures as of now" in response.content.decode()
    dashboard_refresh()
    assert dashboard().snapshot_taken_at is not None  # the next refresh holds every figure again


def test_with_a_snapshot_the_page_takes_the_same_few_queries_whatever_the_rows(finance_client,
                                                                             django_assert_max_num_queries):
    today = timezone.localdate()
    payment(customer(currency="SGD"), "10", received_date=today)
    aged_receivables_refresh()  # as beat keeps both
    dashboard_refresh()
    with CaptureQueriesContext(connection) as few:
        assert finance_client.get(reverse("dashboard")).status_code == 200
    for i, currency in enumerate(("SGD", "USD", "EUR", "MYR")):
        c = customer(currency=currency)
        for month in range(4):
            payment(c, "10", received_date=_months_ago(today, month), method=PaymentMethod.values[month])
        _bank_lines(currency, iban=f"SG12DBSS0000123456789{i}")
    aged_receivables_refresh()
    dashboard_refresh()
    with django_assert_max_num_queries(len(few)), CaptureQueriesContext(connection) as many:
        html = finance_client.get(reverse("dashboard")).content.decode()
    assert all(f'data-currency-section="{c}"' in html for c in ("SGD", "USD", "EUR", "MYR"))
    dashboard_queries = [q["sql"] for q in many.captured_queries if "django_session" not in q["sql"]
                         and "auth_user" not in q["sql"] and "auth_group" not in q["sql"]]
    # the snapshot; aged receivables' view: 2
    assert len(dashboard_queries) == 3, dashboard_queries
    assert not any(table in q for q in dashboard_queries for table in ("banking_statementline", "paymentsettings"))
