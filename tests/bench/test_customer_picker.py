"""The finance forms' customer field at scale (bench/README.md, "Pages under load"): past SELECT_LIMIT
customers it is a text input for the customer's code instead of a <select> of every customer."""

from __future__ import annotations

import pytest

from finance.payments import forms, selectors
from finance.payments.filters import PaymentFilterSet
from tests.customers.factories import CustomerFactory


@pytest.fixture
def customers(db, monkeypatch):
    monkeypatch.setattr(forms, "SELECT_LIMIT", 2)
    return [CustomerFactory(code=f"PICK{i}", name=f"Picker {i}") for i in range(3)]


def test_few_customers_are_a_select_of_all_of_them(db):
    acme = CustomerFactory(code="ACME", name="Acme")
    html = str(PaymentFilterSet(queryset=selectors.payments()).form["customer"])
    assert html.startswith("<select") and f'value="{acme.pk}"' in html


def test_many_customers_are_a_text_input_for_the_code(customers):
    html = str(PaymentFilterSet(queryset=selectors.payments()).form["customer"])
    assert html.startswith("<input") and 'type="text"' in html and "<option" not in html


def test_the_chosen_customer_shows_by_its_code(customers):
    form = forms.CreditNoteForm(initial={"customer": customers[1]})
    assert 'value="PICK1"' in str(form["customer"])


def test_a_code_or_a_pk_finds_the_customer_and_an_unknown_code_is_an_error(customers):
    by_code = PaymentFilterSet({"customer": "pick2"}, selectors.payments())
    assert by_code.values["customer"].pk == customers[2].pk
    by_pk = PaymentFilterSet({"customer": str(customers[0].pk)}, selectors.payments())
    assert by_pk.values["customer"].pk == customers[0].pk
    unknown = PaymentFilterSet({"customer": "NOPE"}, selectors.payments())
    assert unknown.values.get("customer") is None
    assert unknown.errors["customer"] == ["There is no customer with the code NOPE."]


def test_the_assign_form_only_finds_customers_of_the_payments_currency(customers):
    CustomerFactory(code="USD1", currency="USD")
    form = forms.AssignForm({"customer": "USD1"}, currency="SGD")
    assert not form.is_valid() and "customer" in form.errors
