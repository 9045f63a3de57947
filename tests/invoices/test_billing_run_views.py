"""The billing runs pages without a browser: CSV exports, bad filters, permissions, the polled partial."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from finance.services.billing import PAYMENT_CASH
from invoices.services.billing_run import billing_run_start, run_chunk
from tests.customers.factories import CustomerFactory
from tests.invoices.factories import SYSTEM, usage

pytestmark = pytest.mark.django_db

SGT = ZoneInfo("Asia/Singapore")
DAY1 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=SGT)


@pytest.fixture
def run():
    for i in range(3):
        usage(CustomerFactory(code=f"C{i}"), "2", at=dt.datetime(2026, 2, 3, tzinfo=SGT))
    run = billing_run_start(period="2026-02", trigger="beat", actor=SYSTEM, at=DAY1, chunk_size=2)
    run_chunk(run.chunks.get(seq=1).pk, actor=SYSTEM, cash_source=PAYMENT_CASH, send_email=False)
    return run


def rows(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_runs_csv_has_every_filtered_run_with_its_progress(finance_client, run):
    response = finance_client.get("/invoices/billing-runs/?format=csv&q=2026-02")
    header, *body = rows(response)
    assert header[:3] == ["run", "period", "trigger"]
    assert [(r[0], r[1], r[6], r[7], r[8]) for r in body] == [(str(run.pk), "2026-02", "3", "2", "2")]


def test_the_failures_csv_and_the_polled_progress_partial(finance_client, run):
    header, *body = rows(finance_client.get(f"/invoices/billing-runs/{run.pk}/?format=csv"))
    assert header[2] == "customer_code" and body == []
    partial = finance_client.get(f"/invoices/billing-runs/{run.pk}/", HTTP_HX_REQUEST="true",
                                 HTTP_HX_TARGET="run-progress")
    text = partial.content.decode()
    assert partial.status_code == 200 and "2 / 3" in text and 'hx-trigger="every 2s"' in text
    assert "<html" not in text  # only the panel


@pytest.mark.parametrize("query", ["?started_from=tomorrow", "?state=nope", "?q=" + "x" * 300, "?page=abc", "?sort=x"])
def test_bad_filters_are_a_message_never_a_500(finance_client, run, query):
    assert finance_client.get("/invoices/billing-runs/" + query).status_code == 200
    assert finance_client.get(f"/invoices/billing-runs/{run.pk}/" + query).status_code == 200


def test_an_unknown_run_is_404_and_anonymous_users_sign_in(finance_client):
    from django.test import Client

    assert finance_client.get("/invoices/billing-runs/999999/").status_code == 404
    assert Client().get("/invoices/billing-runs/").status_code == 302
