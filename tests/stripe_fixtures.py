"""The local fake Stripe server for the tests that take card payments (tests/stripe, tests/portal,
tests/browser). One server per test session on 127.0.0.1; each test gets it reset and the settings
pointed at it, so the gateway's official SDK talks real HTTP to it.

Import the fixtures into a conftest: `from tests.stripe_fixtures import fake_stripe, fake_stripe_server`."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from fakestripe import FakeStripe

WEBHOOK_SECRET = "whsec_ledgerdesk_tests"
SECRET_KEY = "sk_test_ledgerdesk_tests"


@pytest.fixture(scope="session")
def fake_stripe_server():
    stripe.enable_telemetry = False  # else the SDK writes its telemetry state under ~/.config
    server = FakeStripe(webhook_url=None, webhook_secret=WEBHOOK_SECRET, auto_deliver=False).start()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server, settings):
    """The fake, emptied, with no webhook endpoint and manual delivery (a test posts the events itself
    through Django's client, or points the fake at a live server)."""
    fake_stripe_server.set_webhook(None, WEBHOOK_SECRET)
    fake_stripe_server.auto_deliver = False
    fake_stripe_server.reset()
    settings.STRIPE_API_BASE = fake_stripe_server.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    yield fake_stripe_server
    fake_stripe_server.set_webhook(None, WEBHOOK_SECRET)
    fake_stripe_server.auto_deliver = False


def signed(event: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, str]:
    """The raw body and Stripe-Signature header of `event`, signed as Stripe signs it."""
    payload = json.dumps(event, indent=2)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=int(time.time()) if timestamp is None else timestamp)
    return payload.encode(), header


def post_event(client, event: dict, **kwargs):
    """POST a signed event to the webhook through Django's test client."""
    body, header = signed(event, **kwargs)
    return client.post("/stripe/webhook/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
