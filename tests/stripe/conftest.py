"""Card-payment fixtures: the fake Stripe server (tests/stripe_fixtures.py) and helpers to pay through it."""

from __future__ import annotations

import pytest


@pytest.fixture
def individual(db):
    from tests.finance.factories import customer

    return customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")


@pytest.fixture
def consolidated(db):
    from customers.models import InvoiceSetup
    from tests.finance.factories import customer

    return customer(InvoiceSetup.CONSOLIDATED, name="Initech", code="INITECH", billing_email="ap@initech.example")
