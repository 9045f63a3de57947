"""Issue 19: one format for times and dates in the whole portal. Times are local (the operator's zone) with
the zone named, as the audit trail shows them ("2026-12-07 14:05:09 +08:00"); dates are Y-m-d; CSVs give
ISO 8601 with the offset."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from finance.models import CardPayment
from invoices.models import Invoice
from tests.customers.factories import NotificationFactory, top_up
from tests.finance.factories import purchase_invoice
from tests.stripe.helpers import start

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 12, 7, 6, 5, 9, tzinfo=dt.UTC)  # 14:05:09 in Singapore (the tests' operator zone)
SHOWN = "2026-12-07 14:05:09 +08:00"
ISO = "2026-12-07T14:05:09+08:00"
WITHOUT_ZONE = "2026-12-07 14:05<"  # the old "Y-m-d H:i" cell


def html(client, name, **params) -> str:
    return client.get(reverse(name), params).content.decode()


def csv_rows(client, name) -> list[list[str]]:
    response = client.get(reverse(name), {"format": "csv"})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode())))


def test_transactions_on_home_and_their_page_name_the_zone_and_the_csv_has_the_offset(portal_client, acme):
    top_up(acme, "100", at=AT)
    for name in ("portal:home", "portal:transactions"):
        page = html(portal_client, name)
        assert SHOWN in page and WITHOUT_ZONE not in page, name
    assert csv_rows(portal_client, "portal:transactions")[1][0] == ISO


def test_notifications_name_the_zone_and_the_csv_has_the_offset(portal_client, acme):
    NotificationFactory(customer=acme, sent_at=AT)
    page = html(portal_client, "portal:notifications")
    assert SHOWN in page and WITHOUT_ZONE not in page
    assert csv_rows(portal_client, "portal:notifications")[1][0] == ISO


def test_card_payments_on_the_top_up_payments_and_result_pages_name_the_zone(portal_client, acme, fake_stripe):
    payment = start(acme)
    CardPayment.objects.filter(pk=payment.pk).update(created_at=AT, expires_at=AT)
    for name in ("portal:top-up", "portal:payments"):
        page = html(portal_client, name)
        assert SHOWN in page and WITHOUT_ZONE not in page, name
    assert csv_rows(portal_client, "portal:payments")[1][0] == ISO
    result = html(portal_client, "portal:card-cancelled", payment=payment.pk)
    assert f"The payment page stays open until {SHOWN}" in result


def test_dates_read_y_m_d_on_every_page_that_shows_an_invoice(portal_client, acme):
    invoice, other = purchase_invoice(acme, "30"), purchase_invoice(acme, "20")
    Invoice.objects.filter(pk__in=[invoice.pk, other.pk]).update(issue_date=dt.date(2026, 12, 7),
                                                                due_date=dt.date(2026, 12, 21))
    for page in (html(portal_client, "portal:home"), html(portal_client, "portal:invoice-list"),
                 portal_client.get(reverse("portal:invoice-pay", args=[invoice.pk])).content.decode(),
                 html(portal_client, "portal:invoices-pay", invoice=[invoice.pk, other.pk])):
        assert "2026-12-21" in page and "Dec. 21, 2026" not in page and "Dec. 7, 2026" not in page
    assert "2026-12-07" in html(portal_client, "portal:invoice-list")
