"""New payment: the currency follows the chosen customer (issue 23, defect 3)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from finance.models import Payment
from tests.finance.factories import customer

pytestmark = pytest.mark.django_db

URL = "finance:payment-create"


def currency_input(html: str) -> str:
    found = re.search(r'<input[^>]*name="currency"[^>]*>', html)
    assert found, html
    return found.group(0)


def test_the_page_starts_at_the_default_currency_and_lets_it_be_typed(finance_client):
    field = currency_input(finance_client.get(reverse(URL)).content.decode())
    assert 'value="SGD"' in field and "readonly" not in field


def test_picking_a_customer_swaps_in_its_currency_read_only(finance_client):
    dollars = customer(name="Dollar Corp", currency="USD")
    html = finance_client.get(reverse(URL), {"customer": dollars.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="currency-field">')
    field = currency_input(html)
    assert 'value="USD"' in field and "readonly" in field
    assert "Dollar Corp pays in USD." in html


def test_picking_no_customer_gives_the_default_currency_back(finance_client):
    html = finance_client.get(reverse(URL), {"customer": ""}, HTTP_HX_REQUEST="true").content.decode()
    field = currency_input(html)
    assert 'value="SGD"' in field and "readonly" not in field


def test_the_page_wires_the_customer_field_to_the_currency(finance_client):
    html = finance_client.get(reverse(URL)).content.decode()
    assert f'hx-get="{reverse(URL)}" hx-trigger="change" hx-include="#id_customer" hx-target="#currency-field"' in html


def test_a_payment_for_a_customer_is_in_its_currency(finance_client):
    dollars = customer(currency="USD")
    response = finance_client.post(reverse(URL), {"customer": dollars.pk, "amount": "100", "currency": "USD",
                                                  "received_date": "2026-03-01", "method": "bank_transfer"})
    assert response.status_code == 302
    assert Payment.objects.get().currency == "USD"


def test_an_empty_currency_takes_the_customers(finance_client):
    dollars = customer(currency="USD")
    finance_client.post(reverse(URL), {"customer": dollars.pk, "amount": "100", "currency": "",
                                       "received_date": "2026-03-01", "method": "bank_transfer"})
    assert Payment.objects.get().currency == "USD"


def test_another_currency_than_the_customers_is_refused_with_a_message_and_can_be_corrected(finance_client):
    dollars = customer(name="Dollar Corp", currency="USD")
    response = finance_client.post(reverse(URL), {"customer": dollars.pk, "amount": "100", "currency": "SGD",
                                                  "received_date": "2026-03-01", "method": "bank_transfer"})
    html = response.content.decode()
    assert response.status_code == 200 and "Dollar Corp pays in USD; this payment is in SGD." in html
    assert "readonly" not in currency_input(html)  # the wrong value can be corrected
    assert not Payment.objects.exists()
