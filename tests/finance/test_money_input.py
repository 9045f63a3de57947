"""Staff finance pages refuse amounts the strict parser refuses ('1e5', '10,00', '١٠', ...) with a clear message
on the page, and change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from finance.models import Payment, PaymentSettings, TopUp
from tests.finance.factories import customer, payment

pytestmark = pytest.mark.django_db

BAD = [
    ("1e5", "cannot be written with an exponent"),
    ("10,00", "has a comma in the wrong place"),
    ("1,0,0", "has a comma in the wrong place"),
    ("١٠", "must be written with the digits 0-9"),
    ("１２", "must be written with the digits 0-9"),
    ("NaN", "must be a number"),
    ("100000000000000", "is too large"),
]


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_new_payment_refuses_the_amount_and_records_nothing(finance_client, raw, message):
    cust = customer()
    response = finance_client.post(reverse("finance:payment-create"), {
        "customer": cust.pk, "amount": raw, "currency": "", "received_date": timezone.localdate().isoformat(),
        "method": "bank_transfer"})
    assert response.status_code == 200
    assert f"Amount {message}" in response.content.decode()
    assert not Payment.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(("currency", "message"), [("ABC", "ABC is not an ISO 4217 currency code"),
                                                   ("S$D", "three-letter ISO 4217 code")])
def test_new_payment_refuses_a_currency_that_is_not_iso_4217(finance_client, currency, message):
    response = finance_client.post(reverse("finance:payment-create"), {
        "amount": "10", "currency": currency, "received_date": timezone.localdate().isoformat(),
        "method": "bank_transfer"})
    assert response.status_code == 200 and message in response.content.decode()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(("raw", "message"), BAD[:4])
def test_a_payment_top_up_refuses_the_amount(finance_client, raw, message):
    pay = payment(customer(), "500")
    response = finance_client.post(reverse("finance:payment-top-up", args=[pay.pk]), {"amount": raw})
    assert response.status_code == 200 and f"Top-up amount {message}" in response.content.decode()
    assert not TopUp.objects.exists()


@pytest.mark.parametrize(("field", "raw", "message"), [
    ("trigger_amount", "1e5", "Trigger amount cannot be written with an exponent"),
    ("trigger_amount", "10,00", "Trigger amount has a comma in the wrong place"),
    ("limit_threshold", "١٠", "Limit threshold must be written with the digits 0-9"),
    ("trigger_amount", "1000000.01", "Trigger amount can be at most 1,000,000.00."),
    ("limit_threshold", "5,000,000", "Limit threshold can be at most 1,000,000.00."),
])
def test_payment_settings_refuse_the_amount_and_save_nothing(finance_client, field, raw, message):
    cust = customer()
    data = {"method": "cheque_tt", "trigger_amount": "100", "limit_threshold": "30", "auto_top_up_enabled": "on",
            field: raw}
    response = finance_client.post(reverse("finance:settings-edit", args=[cust.pk]), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert not PaymentSettings.objects.exists() and not AuditEvent.objects.exists()
