"""In development (DEBUG on) a customer asking for another customer's invoice gets the project's 404 page, with
the way back to the portal, not Django's list of URL patterns (issue 23)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.common.test_error_pages import assert_ours
from tests.finance.factories import purchase_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


def test_a_portal_customer_asking_for_another_customers_invoice_in_development(debug, portal_client, globex):
    invoice = purchase_invoice(globex, "10")
    response = portal_client.get(reverse("portal:invoice-pay", args=[invoice.pk]))
    assert_ours(response, 404, "Page not found")
    assert '<a href="/portal/">your portal' in response.content.decode()
