"""Portal fixtures: two customers, each with a portal login, and clients signed in as them."""

from __future__ import annotations

import pytest

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def acme(db):
    from tests.finance.factories import customer

    return customer(name="Acme Telecom Pte Ltd", code="ACME", billing_email="billing@acme.example")


@pytest.fixture
def globex(db):
    from tests.finance.factories import customer

    return customer(name="Globex Corporation", code="GLOBEX", billing_email="billing@globex.example")


@pytest.fixture
def acme_user(acme):
    from tests.customers.factories import portal_user

    return portal_user(acme, "acme-portal").user


@pytest.fixture
def globex_user(globex):
    from tests.customers.factories import portal_user

    return portal_user(globex, "globex-portal").user


@pytest.fixture
def portal_client(client, acme_user):
    """Django's test client signed in as Acme's portal user."""
    client.force_login(acme_user, backend=MODEL_BACKEND)
    return client


@pytest.fixture
def globex_client(acme_user, globex_user):
    """A second client, signed in as Globex's portal user."""
    from django.test import Client

    other = Client()
    other.force_login(globex_user, backend=MODEL_BACKEND)
    return other
