"""The customer pages and Django admin refuse amounts and currencies the strict checks refuse, with a clear
message, and change nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from customers.models import Customer, MasterWallet
from tests.customers.factories import postpaid

pytestmark = pytest.mark.django_db

NEW = {"name": "Initech", "code": "INITECH", "billing_email": "ap@initech.test", "currency": "SGD",
       "account_type": "postpaid", "invoice_setup": "none", "credit_limit": "1,500.50"}


@pytest.mark.parametrize(("field", "raw", "message"), [
    ("credit_limit", "1e5", "Credit limit cannot be written with an exponent"),
    ("credit_limit", "10,00", "Credit limit has a comma in the wrong place"),
    ("credit_limit", "١٠", "Credit limit must be written with the digits 0-9"),
    ("credit_limit", "10000000.01", "Credit limit can be at most 10,000,000.00."),
    ("currency", "ABC", "ABC is not an ISO 4217 currency code"),
    ("currency", "XXX", "XXX is not an ISO 4217 currency code"),
])
def test_creating_a_customer_refuses_and_creates_nothing(finance_client, field, raw, message):
    response = finance_client.post(reverse("customers:create"), {**NEW, field: raw})
    assert response.status_code == 200 and message in response.content.decode()
    assert not Customer.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(("raw", "message"), [("1e5", "cannot be written with an exponent"),
                                              ("1,0,0", "has a comma in the wrong place"),
                                              ("²", "must be written with the digits 0-9")])
def test_editing_the_credit_limit_refuses_and_changes_nothing(finance_client, raw, message):
    customer = postpaid("100", code="EDIT")
    url = reverse("customers:edit", args=[customer.pk])
    data = {**finance_client.get(url).context["form"].initial, "credit_limit": raw, "reason": "typo"}
    response = finance_client.post(url, data)
    assert response.status_code == 200 and f"Credit limit {message}" in response.content.decode()
    customer.refresh_from_db()
    assert customer.credit_limit == Decimal("100")
    assert not AuditEvent.objects.filter(action="customers.customer.update").exists()


def test_a_master_wallet_needs_an_iso_4217_currency(finance_client):
    response = finance_client.post(reverse("customers:wallet-create"), {"name": "Gold", "currency": "XAU"})
    assert response.status_code == 200 and "XAU is not an ISO 4217 currency code" in response.content.decode()
    assert not MasterWallet.objects.exists()


def test_django_admin_changes_no_money_field(client):
    """Admin is read only (common.admin.ReadOnlyAdmin): a crafted post of a money field changes nothing, and
    were a money field ever editable there its form field is the strict AmountField
    (tests/customers/test_money_parsing.py::TestMoneyFieldFormField)."""
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123456")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    customer = postpaid("100", code="ADM")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    response = client.post(url, {"credit_limit": "1e5", "currency": "ABC", "name": customer.name})
    assert response.status_code in (200, 302, 403)
    customer.refresh_from_db()
    assert (customer.credit_limit, customer.currency) == (Decimal("100"), "SGD")
