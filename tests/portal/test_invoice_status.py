"""The portal words an invoice's status as the back office does: credited, not paid, when only credit notes
settled it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from finance.services.credit_notes import credit_note_issue
from tests.finance.factories import SYSTEM, purchase_invoice

pytestmark = pytest.mark.django_db


def test_an_invoice_credited_in_part_says_partially_credited(portal_client, acme):
    invoice = purchase_invoice(acme, "100")
    credit_note_issue(customer=acme, invoice=invoice, amount="40", reason="Goodwill", actor=SYSTEM)
    listing = portal_client.get(reverse("portal:invoice-list")).content.decode()
    assert "Partially credited" in listing and "Partially paid</span>" not in listing
    pay_page = portal_client.get(reverse("portal:invoice-pay", args=[invoice.pk])).content.decode()
    assert "Partially credited" in pay_page and "Partially paid</span>" not in pay_page
