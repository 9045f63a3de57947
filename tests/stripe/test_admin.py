"""Card payments and Stripe events in Django admin: read only; the action asks Stripe and applies its answer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from finance.models import CardPayment, CardPaymentStatus
from tests.stripe.helpers import pay, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-admin-tests")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_lists_are_read_only(admin_client, fake_stripe, individual):
    payment = start(individual)
    assert admin_client.get(reverse("admin:finance_cardpayment_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:finance_stripeevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:finance_cardpayment_add")).status_code == 403
    response = admin_client.post(reverse("admin:finance_cardpayment_change", args=[payment.pk]),
                                 {"amount": "999", "status": "succeeded"})
    payment.refresh_from_db()
    assert response.status_code in (302, 403) and payment.amount == Decimal("25")
    assert payment.status == CardPaymentStatus.PENDING


def test_asking_stripe_again_credits_a_paid_payment_whose_webhook_never_came(admin_client, fake_stripe, individual,
                                                                            consolidated):
    paid, unpaid = start(individual, "30"), start(consolidated, "40")  # one open top-up per customer
    pay(fake_stripe, paid)
    response = admin_client.post(reverse("admin:finance_cardpayment_changelist"),
                                 {"action": "confirm_with_stripe", "_selected_action": [paid.pk, unpaid.pk]})
    assert response.status_code == 302
    assert CardPayment.objects.get(pk=paid.pk).status == CardPaymentStatus.SUCCEEDED
    assert CardPayment.objects.get(pk=unpaid.pk).status == CardPaymentStatus.PENDING
    individual.refresh_from_db()
    assert individual.usable_credits == Decimal("30")


def test_a_card_payments_invoices_are_shown_read_only(admin_client, fake_stripe, individual):
    from finance.models import CardPaymentInvoice
    from finance.services.cards import card_top_up_start
    from tests.finance.factories import purchase_invoice
    from tests.stripe.helpers import CANCEL_URL, CUSTOMER, SUCCESS_URL

    invoice = purchase_invoice(individual, "60")
    payment = card_top_up_start(customer_id=individual.pk, invoice_id=invoice.pk, amount=Decimal("60"),
                                actor=CUSTOMER, success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
    link = CardPaymentInvoice.objects.get(card_payment=payment)
    listed = admin_client.get(reverse("admin:finance_cardpaymentinvoice_changelist"), {"q": str(payment.pk)})
    assert listed.status_code == 200 and invoice.number in listed.content.decode()
    assert admin_client.get(reverse("admin:finance_cardpaymentinvoice_add")).status_code == 403
    admin_client.post(reverse("admin:finance_cardpaymentinvoice_change", args=[link.pk]), {"open": ""})
    link.refresh_from_db()
    assert link.open is True
