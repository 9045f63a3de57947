"""fakestripe: a small, faithful fake of the Stripe v1 API for tests and local development.

Pure standard library. Start one, point the official SDK at it, pay through its hosted checkout page,
and receive signed webhooks::

    from fakestripe import FakeStripe

    server = FakeStripe(webhook_url=None, webhook_secret="whsec_test").start()
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})

Or beside a dev server: ``python -m fakestripe --port 12111 --webhook-url http://127.0.0.1:8000/stripe/webhook/``.
"""

from .cards import (
    ATTACH_THEN_DECLINE,
    AUTHENTICATION_ALWAYS,
    AUTHENTICATION_ON_SESSION,
    DECLINE_GENERIC,
    DECLINE_INSUFFICIENT_FUNDS,
    SUCCESS_MASTERCARD,
    SUCCESS_VISA,
)
from .server import DEFAULT_API_VERSION, FakeStripe, RequestRecord
from .state import CheckoutResult
from .webhooks import Delivery, sign

__all__ = [
    "ATTACH_THEN_DECLINE",
    "AUTHENTICATION_ALWAYS",
    "AUTHENTICATION_ON_SESSION",
    "DECLINE_GENERIC",
    "DECLINE_INSUFFICIENT_FUNDS",
    "DEFAULT_API_VERSION",
    "SUCCESS_MASTERCARD",
    "SUCCESS_VISA",
    "CheckoutResult",
    "Delivery",
    "FakeStripe",
    "RequestRecord",
    "sign",
]
