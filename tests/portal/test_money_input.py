"""The portal's amount fields refuse what the strict parser refuses, card amounts take no more decimals than
the currency's minor unit, and a top-up has an upper bound: a clear message, nothing started at Stripe."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from finance.models import CardPayment, PaymentSettings
from tests.customers.factories import top_up
from tests.finance.factories import purchase_invoice
from tests.stripe.helpers import save_card

pytestmark = pytest.mark.django_db

TOP_UP = reverse("portal:top-up")


def refused(response, message: str, fake_stripe) -> None:
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not CardPayment.objects.exists() and not PaymentSettings.objects.exists()
    assert fake_stripe.requests == []


@pytest.mark.parametrize(("raw", "message"), [
    ("1e5", "Amount cannot be written with an exponent"),
    ("10,00", "Amount has a comma in the wrong place"),
    ("١٠٠", "Amount must be written with the digits 0-9"),
    ("１００", "Amount must be written with the digits 0-9"),
    ("Infinity", "Amount must be a number"),
    ("50.005", "Amount can have at most 2 decimal places."),
    ("1000000.01", "Amount can be at most 1,000,000.00."),
])
def test_the_top_up_form_refuses_the_amount(portal_client, fake_stripe, raw, message):
    refused(portal_client.post(TOP_UP, {"amount": raw}), message, fake_stripe)


@pytest.mark.parametrize(("field", "raw", "message"), [
    ("trigger_amount", "1e3", "Auto top-up amount cannot be written with an exponent"),
    ("trigger_amount", "20.001", "Auto top-up amount can have at most 2 decimal places."),
    ("trigger_amount", "2,000,000", "Auto top-up amount can be at most 1,000,000.00."),
    ("limit_threshold", "1,0,0", "When usable credits fall to has a comma in the wrong place"),
    ("limit_threshold", "9999999", "When usable credits fall to can be at most 1,000,000.00."),
])
def test_the_auto_top_up_amounts_are_bounded_and_strict(portal_client, fake_stripe, field, raw, message):
    data = {"amount": "50", "save_card": "on", "trigger_amount": "50", "limit_threshold": "20", field: raw}
    refused(portal_client.post(TOP_UP, data), message, fake_stripe)


def test_the_shortfall_form_takes_the_card_currencys_two_decimals(portal_client, acme, fake_stripe):
    top_up(acme, "25")
    invoice = purchase_invoice(acme, "60.004")
    url = reverse("portal:invoice-pay-card", args=[invoice.pk])
    refused(portal_client.post(url, {"amount": "35.004"}), "Amount to top up can have at most 2 decimal places.",
            fake_stripe)
    refused(portal_client.post(url, {"amount": "3e1"}), "Amount to top up cannot be written with an exponent",
            fake_stripe)


@pytest.mark.parametrize(("field", "raw", "message"), [
    ("trigger_amount", "5e1", "Each automatic top-up adds cannot be written with an exponent"),
    ("trigger_amount", "50.001", "Each automatic top-up adds can have at most 2 decimal places."),
    ("trigger_amount", "١٠٠", "Each automatic top-up adds must be written with the digits 0-9"),
    ("trigger_amount", "1,000,000.01", "Each automatic top-up adds can be at most 1,000,000.00."),
    ("limit_threshold", "10,00", "When usable credits fall to has a comma in the wrong place"),
    ("limit_threshold", "2000000", "When usable credits fall to can be at most 1,000,000.00."),
])
def test_the_card_page_refuses_the_auto_top_up_amounts_and_changes_nothing(portal_client, acme, fake_stripe, field,
                                                                           raw, message):
    save_card(fake_stripe, acme)  # 50.00 when usable credits fall to 10.00
    before = PaymentSettings.objects.values_list("trigger_amount", "limit_threshold").get(customer=acme)
    events = AuditEvent.objects.count()
    data = {"trigger_amount": "60", "limit_threshold": "20", field: raw}
    response = portal_client.post(reverse("portal:card-settings-amounts"), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert PaymentSettings.objects.values_list("trigger_amount", "limit_threshold").get(customer=acme) == before
    assert AuditEvent.objects.count() == events


class TestAmountsInMessagesAreMoney:
    """The portal's own messages show amounts as money (2 decimals, up to 6 when needed), never raw."""

    def test_the_top_up_forms_minimum_and_the_shortfall_error(self):
        from decimal import Decimal

        from portal.forms import CardShortfallForm, TopUpForm

        top_up = TopUpForm({"amount": "5"}, minimum=Decimal("10"), currency="SGD")
        assert top_up.fields["amount"].help_text == "At least 10.00 SGD."
        assert not top_up.is_valid() and top_up.errors["amount"] == ["The minimum top-up is 10.00 SGD."]
        shortfall = CardShortfallForm({"amount": "30"}, shortfall=Decimal("35.5"), currency="SGD")
        assert not shortfall.is_valid()
        assert shortfall.errors["amount"] == ["Top up at least the shortfall of 35.50 SGD."]
