"""Paying through the fake Stripe the way a customer does, for the card-payment tests."""

from __future__ import annotations

from decimal import Decimal

from audit.actors import Actor
from fakestripe import SUCCESS_VISA

CUSTOMER = Actor(kind="customer", label="acme-portal", user_id=1, ip="127.0.0.1")
STRIPE = Actor.stripe("evt")
SUCCESS_URL = "http://testserver/portal/card/success/?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://testserver/portal/card/cancelled/?payment={CARD_PAYMENT_ID}"


def start(customer, amount="25.00", **kwargs):
    """A card top-up started as the portal starts it (a Checkout Session at the fake)."""
    from finance.services.cards import card_top_up_start

    return card_top_up_start(customer_id=customer.pk, amount=Decimal(amount), actor=CUSTOMER,
                             success_url=SUCCESS_URL, cancel_url=CANCEL_URL, **kwargs)


def pay(fake, payment, card=SUCCESS_VISA):
    """Press Pay on the hosted checkout page with `card`."""
    return fake.pay_checkout_session(payment.checkout_session_id, card)


def event_of(fake, type_: str, object_id: str) -> dict:
    """The fake's event of this type about this object (a plain dict, as Stripe would post it)."""
    (event,) = [e for e in fake.events_of_type(type_) if e["data"]["object"]["id"] == object_id]
    return event


def save_card(fake, customer, card=SUCCESS_VISA):
    """A customer with a card saved for off-session charges, as a portal top-up with save_card leaves it."""
    from finance.services.cards import card_payment_fulfil

    payment = start(customer, "20.00", save_card=True, trigger_amount=Decimal("50"), limit_threshold=Decimal("10"))
    pay(fake, payment)
    card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=CUSTOMER)
    customer.refresh_from_db()
    if card != SUCCESS_VISA:  # swap the saved card for a test card with another outcome
        method = fake.add_payment_method(customer.stripe_customer_id, card)
        customer.stripe_payment_method_id = method["id"]
        customer.save(update_fields=["stripe_payment_method_id"])
    return customer
