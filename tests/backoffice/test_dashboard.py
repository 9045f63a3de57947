"""The dashboard's totals are per currency: SGD and USD are never added into one figure."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import TransactionKind
from tests.customers.factories import CustomerFactory, ledger_post

pytestmark = pytest.mark.django_db


def _row(html: str, currency: str) -> str:
    start = html.index(f'data-currency="{currency}"')
    return html[start:html.index("</tr>", start)]


def test_each_currency_has_its_own_labelled_totals(finance_client):
    ledger_post(CustomerFactory(currency="SGD"), TransactionKind.CALL, "-10.50")
    ledger_post(CustomerFactory(currency="SGD"), TransactionKind.CALL, "-1.25")
    ledger_post(CustomerFactory(currency="USD"), TransactionKind.CALL, "-20.25")
    html = finance_client.get(reverse("dashboard")).content.decode()
    assert "11.75 SGD" in _row(html, "SGD") and "20.25 USD" in _row(html, "USD")
    assert "20.25" not in _row(html, "SGD") and "11.75" not in _row(html, "USD")
    assert "32.00" not in html  # the two currencies added together


def test_the_page_takes_the_same_queries_whatever_the_currencies(finance_client):
    ledger_post(CustomerFactory(currency="SGD"), TransactionKind.CALL, "-1")
    with CaptureQueriesContext(connection) as one:
        assert finance_client.get(reverse("dashboard")).status_code == 200
    for currency in ("USD", "EUR", "MYR"):
        ledger_post(CustomerFactory(currency=currency), TransactionKind.CALL, "-1")
    with CaptureQueriesContext(connection) as four:
        html = finance_client.get(reverse("dashboard")).content.decode()
    assert all(f'data-currency="{c}"' in html for c in ("SGD", "USD", "EUR", "MYR"))
    assert len(four) == len(one)
