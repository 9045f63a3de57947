"""The webhook's limits: a body over 256 KiB is refused before anything is read or stored, a signature
dated in the future is refused like a stale one, and each redelivery of an event is counted."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import Transaction, TransactionKind
from finance.cards.webhooks import MAX_PAYLOAD_BYTES
from finance.models import CardPaymentStatus, StripeEvent
from tests.stripe.helpers import event_of, pay, start
from tests.stripe_fixtures import post_event, signed

URL = "/stripe/webhook/"

pytestmark = pytest.mark.django_db


def paid(fake, customer, amount="25.00"):
    payment = start(customer, amount)
    pay(fake, payment)
    payment.refresh_from_db()
    return payment, event_of(fake, "checkout.session.completed", payment.checkout_session_id)


def top_ups(customer) -> list[Decimal]:
    return list(Transaction.objects.filter(customer=customer, kind=TransactionKind.TOP_UP)
                .values_list("amount", flat=True))


def test_an_oversized_body_is_413_and_nothing_is_stored(client, fake_stripe, individual):
    payment, event = paid(fake_stripe, individual)
    audit_before = AuditEvent.objects.count()
    event = {**event, "padding": "x" * MAX_PAYLOAD_BYTES}  # a validly signed event, only too big
    body, header = signed(event)
    response = client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 413
    assert StripeEvent.objects.count() == 0 and AuditEvent.objects.count() == audit_before
    assert top_ups(individual) == []
    payment.refresh_from_db()
    assert payment.status == CardPaymentStatus.PENDING


def test_a_body_just_under_the_limit_is_accepted(client, fake_stripe, individual):
    _, event = paid(fake_stripe, individual)
    size = len(signed(event)[0])
    event = {**event, "padding": "x" * (MAX_PAYLOAD_BYTES - size - 100)}
    body, header = signed(event)
    assert len(body) <= MAX_PAYLOAD_BYTES
    response = client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 200
    assert top_ups(individual) == [Decimal("25")]


# 30 s off the edge: on a loaded machine a second can pass between signing and checking
@pytest.mark.parametrize("ahead, status", [(60, 200), (270, 200), (330, 400), (3600, 400)])
def test_a_signature_dated_more_than_five_minutes_ahead_is_refused(client, fake_stripe, individual, ahead, status):
    _, event = paid(fake_stripe, individual)
    response = post_event(client, event, timestamp=int(time.time()) + ahead)
    assert response.status_code == status
    if status == 400:
        assert "Timestamp is in the future" in response.content.decode()
        assert StripeEvent.objects.count() == 0 and top_ups(individual) == []
    else:
        assert top_ups(individual) == [Decimal("25")]


def test_three_deliveries_of_one_event_count_three_and_credit_once(client, fake_stripe, individual):
    _, event = paid(fake_stripe, individual)
    results = [post_event(client, event).json()["result"] for _ in range(3)]
    assert results[1:] == ["duplicate", "duplicate"]
    stored = StripeEvent.objects.get(event_id=event["id"])
    assert stored.deliveries == 3
    assert top_ups(individual) == [Decimal("25")]
    assert AuditEvent.objects.filter(action="finance.card_payment.fulfil").count() == 1


def test_redeliveries_of_an_ignored_event_are_counted_too(client, fake_stripe, individual):
    payment, _ = paid(fake_stripe, individual)
    intent_id = fake_stripe.get(payment.checkout_session_id)["payment_intent"]
    created = event_of(fake_stripe, "payment_intent.created", intent_id)
    for _ in range(2):
        post_event(client, created)
    assert StripeEvent.objects.get(event_id=created["id"]).deliveries == 2
