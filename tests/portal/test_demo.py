"""The portal demo: a card top-up for ACME paid through the fake Stripe, once."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from finance.models import CardPayment

pytestmark = pytest.mark.django_db


def test_seeds_one_paid_card_top_up_and_is_idempotent(fake_stripe):
    from portal import demo
    from tests.finance.factories import customer

    acme = customer(code="ACME", name="Acme Pte Ltd")
    assert demo.seed(io.StringIO()).startswith("1 card top-up of 50.00")
    assert demo.seed(io.StringIO()) == "0 card top-ups (ACME has one)"
    (payment,) = CardPayment.objects.all()
    assert payment.status == "succeeded"
    acme.refresh_from_db()
    assert acme.usable_credits == Decimal("50")


def test_does_nothing_without_the_fake(settings, db):
    from portal import demo
    from tests.finance.factories import customer

    customer(code="ACME")
    settings.STRIPE_API_BASE = ""
    assert "no local fake Stripe" in demo.seed(io.StringIO())
    assert not CardPayment.objects.exists()
