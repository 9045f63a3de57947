"""The one customer picker (customers.forms.CustomerPicker, issue 23) at scale: a text input for the code with
suggestions by code or name, the same number of queries whatever the number of customers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from finance.payments import forms, selectors
from finance.payments.filters import PaymentFilterSet
from tests.customers.factories import CustomerFactory


@pytest.fixture
def customers(db):
    return [CustomerFactory(code=f"PICK{i}", name=f"Picker {i}") for i in range(3)]


def test_the_filter_is_a_text_input_with_suggestions_never_a_select(customers):
    html = str(PaymentFilterSet(queryset=selectors.payments()).form["customer"])
    assert html.startswith("<input") and 'type="text"' in html and "<select" not in html and "<option" not in html
    assert f'hx-get="{reverse("customers:options")}?field=customer"' in html and "<datalist" in html


def test_the_chosen_customer_shows_by_its_code(customers):
    form = forms.CreditNoteForm(initial={"customer": customers[1]})
    assert 'value="PICK1"' in str(form["customer"])
    linked = PaymentFilterSet({"customer": str(customers[2].pk)}, selectors.payments())
    assert 'value="PICK2"' in str(linked.form["customer"])


def test_a_code_or_a_pk_finds_the_customer_and_an_unknown_code_is_an_error(customers):
    by_code = PaymentFilterSet({"customer": "pick2"}, selectors.payments())
    assert by_code.values["customer"].pk == customers[2].pk
    by_pk = PaymentFilterSet({"customer": str(customers[0].pk)}, selectors.payments())
    assert by_pk.values["customer"].pk == customers[0].pk
    unknown = PaymentFilterSet({"customer": "NOPE"}, selectors.payments())
    assert unknown.values.get("customer") is None
    assert unknown.errors["customer"] == ["There is no customer with the code NOPE."]


def test_the_assign_form_only_finds_and_suggests_customers_of_the_payments_currency(customers):
    CustomerFactory(code="USD1", currency="USD")
    form = forms.AssignForm({"customer": "USD1"}, currency="SGD")
    assert not form.is_valid() and "customer" in form.errors
    assert "currency=SGD" in str(form["customer"])


def test_suggestions_by_code_or_name_in_any_order_of_words(finance_client, customers):
    CustomerFactory(code="GLOBEX", name="Globex Corp", currency="USD")
    html = finance_client.get(reverse("customers:options"), {"field": "customer", "customer": "glo"}).content.decode()
    assert html.strip().startswith('<option value="GLOBEX">Globex Corp · USD')
    by_code = finance_client.get(reverse("customers:options"), {"customer": "pick1"}).content.decode()
    assert 'value="PICK1"' in by_code and "PICK2" not in by_code
    usd_only = finance_client.get(reverse("customers:options"), {"customer": "pick", "currency": "USD"})
    assert "<option" not in usd_only.content.decode()


@pytest.mark.parametrize("url", ["finance:payment-create", "finance:credit-note-create", "finance:withdrawal-create",
                                 "finance:payment-list", "finance:credit-note-list", "finance:withdrawal-list",
                                 "invoices:list", "invoices:create-top-up"])
def test_pages_with_a_picker_make_the_same_queries_for_3_or_300_customers(finance_client, customers, url):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert finance_client.get(reverse(url), {"customer": "PICK1"}).status_code == 200
        return len(ctx)

    few = queries()
    Customer.objects.bulk_create(CustomerFactory.build(code=f"BULK{i}", name=f"Bulk {i}") for i in range(300))
    assert queries() == few
    options = CaptureQueriesContext(connection)
    with options:
        finance_client.get(reverse("customers:options"), {"customer": "bulk"})
    assert sum("customers_customer" in q["sql"] for q in options.captured_queries) == 1
