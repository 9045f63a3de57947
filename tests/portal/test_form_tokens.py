"""The portal's pay-with-credits forms carry a one-time token (issue 23, defect 8): a second POST pays nothing
and goes where the first went. (The card forms are guarded by the card flow itself: one open Checkout per
invoice or top-up, held by the database's unique indexes; tests/stripe.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from finance.models import Allocation
from tests.common.test_form_tokens import twice
from tests.customers.factories import top_up as ledger_top_up
from tests.finance.factories import purchase_invoice

pytestmark = pytest.mark.django_db


class TestPortalForms:
    def test_pay_an_invoice_with_credits(self, portal_client, acme):
        ledger_top_up(acme, "100")
        invoice = purchase_invoice(acme, "60")
        url = reverse("portal:invoice-pay", args=[invoice.pk])
        paid = Allocation.objects.filter(invoice=invoice).count
        assert twice(portal_client, url, url, {}, paid)[0] == 1

    def test_pay_several_invoices_with_credits(self, portal_client, acme):
        ledger_top_up(acme, "100")
        a, b = purchase_invoice(acme, "20"), purchase_invoice(acme, "30")
        page = reverse("portal:invoices-pay") + f"?invoice={a.pk}&invoice={b.pk}"
        paid = Allocation.objects.filter(invoice__in=[a, b]).count
        assert twice(portal_client, page, reverse("portal:invoices-pay-credits"), {"invoice": [a.pk, b.pk]},
                     paid)[0] == 2
