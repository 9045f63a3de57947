"""Portal demo data: a card top-up that the demo customer ACME (portal login acme) paid through the local
fake Stripe, so the portal's Top up page, Transactions and Audit trail show a real card payment, paid on
the hosted Checkout page and credited once.

Only against the fake Stripe that `bin/run` starts (STRIPE_API_BASE set, a test key): the demo presses Pay
on the fake's hosted page over HTTP, as the browser would. Idempotent: once ACME has a paid card top-up,
nothing more is done. Without the fake (or if it does not answer) it does nothing and says so."""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

from django.conf import settings

from audit.actors import Actor
from customers.models import Customer
from customers.money import display
from finance.models import CardPayment, CardPaymentStatus
from finance.services.cards import CardPaymentError, card_payment_fulfil, card_top_up_start

CODE = "ACME"
AMOUNT = Decimal("50.00")
TEST_CARD = "4242424242424242"
# Where bin/run serves the portal (the fake sends the browser back there after paying).
PORTAL_URL = (f"http://{os.environ.get('LEDGERDESK_HOST', '127.0.0.1')}:"
              f"{os.environ.get('LEDGERDESK_PORT', '8000')}/portal/card/")
ACTOR = Actor(kind="customer", label="acme (demo)")


def seed(stdout) -> str:
    customer = Customer.objects.filter(code=CODE).first()
    if customer is None:
        return "no customer ACME (the customers demo seeds it)"
    if CardPayment.objects.filter(customer=customer, status=CardPaymentStatus.SUCCEEDED).exists():
        return "0 card top-ups (ACME has one)"
    base = settings.STRIPE_API_BASE.rstrip("/")
    if not base or not settings.STRIPE_SECRET_KEY.startswith("sk_test"):
        return "0 card top-ups (no local fake Stripe: STRIPE_API_BASE is not set)"
    try:
        payment = card_top_up_start(
            customer_id=customer.pk, amount=AMOUNT, actor=ACTOR,
            success_url=f"{PORTAL_URL}success/?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{PORTAL_URL}cancelled/?payment={{CARD_PAYMENT_ID}}")
        if not payment.checkout_url.startswith(base):
            return "0 card top-ups (the Checkout page is not the local fake's)"
        _press_pay(payment.checkout_url)
        card_payment_fulfil(checkout_session_id=payment.checkout_session_id, actor=ACTOR)
    except (CardPaymentError, OSError) as error:
        stdout.write(f"  portal demo: the fake Stripe did not take the card top-up: {error}")
        return "0 card top-ups"
    payment.refresh_from_db()
    return f"1 card top-up of {display(payment.amount_charged)} {payment.currency} for ACME ({payment.status})"


def _press_pay(checkout_url: str) -> None:
    """POST the hosted page's form with the test card; the fake answers 303 to the success URL, which is
    not followed (the web server is not up yet while the demo loads; the fulfilment call does its work)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    body = urllib.parse.urlencode({"card": TEST_CARD}).encode()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(checkout_url, data=body, method="POST"), timeout=10)
    except urllib.error.HTTPError as redirect:
        if redirect.code != 303:
            raise
