"""The payment list's count: one COUNT over the payments (finance migration 0006's index), stopping at
COUNT_CAP (common/lists.py has the figures); exact for every filter up to 10,000, "10,000+" beyond it with
every page still reachable."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from common.lists import COUNT_CAP, PER_PAGE
from finance.models import Payment
from finance.payments.filters import PaymentFilterSet
from finance.payments.selectors import payments
from tests.finance.factories import customer, payment

TODAY = timezone.localdate()
DAY = dt.timedelta(days=1)
URL = "finance:payment-list"


def _counting(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith("SELECT COUNT(*)") and '"finance_payment"' in q["sql"]]


@pytest.mark.django_db
def test_the_payment_list_counts_every_filter_once_and_exactly(finance_client):
    acme = customer(name="Acme")
    for n in range(30):
        payment(acme if n % 3 else None, "5", currency=acme.currency, reference=f"TT-{n}",
                method="cheque" if n % 2 else "bank_transfer", received_date=TODAY - (n % 4) * DAY)
    url = reverse(URL)

    def shown(query: dict) -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = finance_client.get(url, query)
        return response.context["page"].paginator.count, _counting(queries)

    for query in ({}, {"method": "cheque"}, {"status": "unassigned", "received_from": TODAY - 2 * DAY}):
        count, counting = shown(query)
        assert len(counting) == 1 and f"LIMIT {COUNT_CAP + 1}" in counting[0]  # one count, capped
        assert count == PaymentFilterSet(query, payments()).qs.count()
    assert shown({"method": "cheque", "page": "2"})[0] == 15
    count, counting = shown({"q": "TT-1"})
    assert len(counting) == 1 and count == 11  # TT-1, TT-10..19


def _many_payments(n: int) -> None:
    """`n` unassigned payments, one a day back from today (Django's bulk_create: the list's rows, not the
    services', which are tested above; 10,001 recorded one by one would take a minute)."""
    Payment.objects.bulk_create(
        Payment(currency="SGD", amount=Decimal("1"), received_date=TODAY - i * DAY, method="cheque",
                reference=f"BULK-{i}") for i in range(n))


@pytest.mark.django_db
def test_past_10000_payments_the_list_says_10000_plus_and_every_page_stays_reachable(finance_client):
    _many_payments(COUNT_CAP + 1)
    url = reverse(URL)
    response = finance_client.get(url)
    page = response.context["page"]
    body = response.content.decode()
    assert "10,000+ payments" in body and "1–25 of 10,000+" in body and "Page 1</span>" in body
    assert len(page.object_list) == PER_PAGE and page.has_next() and 'rel="next"' in body

    last = COUNT_CAP // PER_PAGE + 1  # 400 full pages, then the 10,001st payment alone
    response = finance_client.get(url, {"page": last})
    page = response.context["page"]
    assert page.number == last and [p.reference for p in page.object_list] == [f"BULK-{COUNT_CAP}"]
    assert not page.has_next() and page.has_previous()
    assert "10001–10001 of 10,000+" in response.content.decode()

    # past the last page (a hand-typed URL): the last page, as for any list, from a full count
    response = finance_client.get(url, {"page": last + 5})
    assert response.context["page"].number == last and response.context["page"].paginator.count == COUNT_CAP + 1

    # a filter that leaves 10,000 or fewer: counted exactly again
    response = finance_client.get(url, {"received_from": (TODAY - 99 * DAY).isoformat()})
    assert response.context["page"].paginator.count == 100 and "100 payments" in response.content.decode()


@pytest.mark.django_db
def test_exactly_10000_payments_are_counted_exactly(finance_client):
    _many_payments(COUNT_CAP)
    response = finance_client.get(reverse(URL), {"page": COUNT_CAP // PER_PAGE})
    body = response.content.decode()
    assert response.context["page"].paginator.count == COUNT_CAP and "10000 payments" in body and "10,000+" not in body
    assert "9976–10000 of 10000" in body and "Page 400 of 400" in body and 'rel="next"' not in body
