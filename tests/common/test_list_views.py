"""The shared list machinery on the staff lists (issue 23, "Lists"): sortable columns, the page size, the
totals per currency of every filtered row, all in the URL; a constant number of queries whatever the row
count."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from common.lists import PAGE_SIZES, PER_PAGE
from finance.services.payments import payment_delete
from tests.finance.factories import SYSTEM, customer, payment, purchase_invoice

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
PAYMENTS = reverse("finance:payment-list")


def _ids(response) -> list[int]:
    return [p.pk for p in response.context["page"].object_list]


@pytest.fixture
def three():
    acme = customer(name="Acme Pte Ltd", code="ACME")
    small = payment(acme, "5", reference="TT-SMALL", received_date=TODAY - dt.timedelta(days=1))
    big = payment(acme, "500", reference="TT-BIG", received_date=TODAY - dt.timedelta(days=3))
    middle = payment(None, "50", reference="TT-MIDDLE", received_date=TODAY - dt.timedelta(days=2))
    return small, middle, big


def test_a_column_sorts_both_ways_and_an_unknown_sort_is_the_default(finance_client, three):
    small, middle, big = three
    assert _ids(finance_client.get(PAYMENTS)) == [small.pk, middle.pk, big.pk]  # newest received first
    assert _ids(finance_client.get(PAYMENTS, {"sort": "amount"})) == [small.pk, middle.pk, big.pk]
    assert _ids(finance_client.get(PAYMENTS, {"sort": "-amount"})) == [big.pk, middle.pk, small.pk]
    assert _ids(finance_client.get(PAYMENTS, {"sort": "received"})) == [big.pk, middle.pk, small.pk]
    assert _ids(finance_client.get(PAYMENTS, {"sort": "id"})) == sorted(p.pk for p in three)
    for bad in ("customer__name", "-reference", "amount;drop"):
        response = finance_client.get(PAYMENTS, {"sort": bad})
        assert response.status_code == 200 and _ids(response) == [small.pk, middle.pk, big.pk]


def test_the_header_links_keep_the_filters_and_flip_the_direction(finance_client, three):
    page = finance_client.get(PAYMENTS, {"q": "TT", "sort": "amount", "per_page": "50", "page": "1"}).content.decode()
    link = re.search(r'<th class="num" aria-sort="ascending"><a href="([^"]+)" class="sort asc" data-sort="amount"',
                     page)
    assert link and link.group(1) == "?q=TT&amp;sort=-amount&amp;per_page=50"
    received = re.search(r'<a href="([^"]+)" class="sort" data-sort="received"', page).group(1)
    assert received == "?q=TT&amp;sort=received&amp;per_page=50"
    # the filter form keeps the sort and the page size when a filter changes
    assert '<input type="hidden" name="sort" value="amount" form="payment-filters">' in page
    assert '<input type="hidden" name="per_page" value="50" form="payment-filters">' in page


def test_the_page_size_comes_from_a_fixed_set_in_the_url(finance_client):
    acme = customer()
    for i in range(60):
        payment(acme, str(i + 1))
    assert len(_ids(finance_client.get(PAYMENTS))) == PER_PAGE == PAGE_SIZES[0]
    response = finance_client.get(PAYMENTS, {"per_page": "50", "sort": "amount"})
    assert len(_ids(response)) == 50
    page = response.content.decode()
    assert '<strong aria-current="true">50</strong>' in page
    assert 'href="?per_page=100&amp;sort=amount" data-per-page="100"' in page
    assert 'href="?per_page=50&amp;sort=amount&page=2" rel="next"' in page
    second = finance_client.get(PAYMENTS, {"per_page": "50", "sort": "amount", "page": "2"})
    assert len(_ids(second)) == 10
    for bad in ("7", "1000", "-25", "x", "0"):
        assert len(_ids(finance_client.get(PAYMENTS, {"per_page": bad}))) == PER_PAGE


def test_the_totals_are_per_currency_over_every_filtered_row_not_the_page(finance_client):
    sgd, usd = customer(code="SGD1"), customer(code="USD1", currency="USD")
    for _ in range(30):
        payment(sgd, "10.5")
    payment(usd, "7.25")
    payment(usd, "2.75", method="cheque")
    gone = payment(sgd, "1000")
    payment_delete(payment=gone, actor=SYSTEM, reason="typo")

    response = finance_client.get(PAYMENTS)
    assert len(_ids(response)) == PER_PAGE
    page = response.content.decode()
    # the page asks for its totals once shown, with its own filters (they read every row, the page only 25)
    assert 'id="list-totals" hx-get="?part=totals" hx-trigger="load"' in page

    response = finance_client.get(PAYMENTS, {"part": "totals"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="list-totals")
    totals = {t["currency"]: (t["total"], t["count"]) for t in response.context["totals"]}
    assert totals == {"SGD": (Decimal("315"), 30), "USD": (Decimal("10"), 2)}
    part = response.content.decode()
    assert part.lstrip().startswith('<span class="list-totals" id="list-totals"')
    assert 'data-currency="SGD">Total SGD <strong class="num">315.00</strong>' in part
    assert 'data-currency="USD">Total USD <strong class="num">10.00</strong>' in part

    filtered = finance_client.get(PAYMENTS, {"method": "cheque", "sort": "amount", "page": "1", "part": "totals"})
    assert [(t["currency"], t["total"]) for t in filtered.context["totals"]] == [("USD", Decimal("2.75"))]
    page = finance_client.get(PAYMENTS, {"method": "cheque", "sort": "amount", "page": "1"}).content.decode()
    assert 'hx-get="?method=cheque&amp;sort=amount&amp;part=totals"' in page
    none = finance_client.get(PAYMENTS, {"received_from": TODAY.isoformat(), "received_to": "2000-01-01",
                                         "part": "totals"})
    assert none.context["totals"] == [] and "No totals: no rows." in none.content.decode()


@pytest.mark.parametrize(("name", "sort", "amount"), [
    ("finance:payment-list", "-amount", "amount"),
    ("finance:credit-note-list", "-amount", "amount"),
    ("finance:withdrawal-list", "-amount", "amount"),
    ("invoices:list", "-total", "total"),
])
def test_each_list_sorts_totals_and_pages_in_a_constant_number_of_queries(finance_client, name, sort, amount):
    from finance.services.credit_notes import credit_note_issue
    from finance.services.withdrawals import withdrawal_record

    def add(n: int):
        for i in range(n):
            cust = customer(currency="USD" if i % 2 else "SGD")
            payment(cust, "100")
            credit_note_issue(customer=cust, amount=str(i + 1), reason="r", issue_date=TODAY, actor=SYSTEM)
            withdrawal_record(customer=cust, amount="1", method="bank_transfer", paid_date=TODAY, actor=SYSTEM)
            purchase_invoice(cust, str(i + 1))

    url = reverse(name)
    query = {"sort": sort, "per_page": "25"}
    add(2)
    with CaptureQueriesContext(connection) as few:
        response = finance_client.get(url, query)
    rows = response.context["page"].object_list
    assert [getattr(r, amount) for r in rows] == sorted((getattr(r, amount) for r in rows), reverse=True)
    with CaptureQueriesContext(connection) as few_totals:
        totals = finance_client.get(url, {**query, "part": "totals"}).context["totals"]
    assert {t["currency"] for t in totals} == {"SGD", "USD"}
    add(30)
    with CaptureQueriesContext(connection) as many:
        response = finance_client.get(url, query)
    assert len(response.context["page"].object_list) == 25
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as many_totals:
        totals = finance_client.get(url, {**query, "part": "totals"}).context["totals"]
    assert len(many_totals) == len(few_totals)
    assert sum(t["count"] for t in totals) >= 32
    assert sum(1 for q in many_totals if "GROUP BY" in q["sql"]) == 1


@pytest.mark.parametrize("name", ["customers:list", "finance:settings-list"])
def test_the_customer_lists_sort_by_name_both_ways(finance_client, name):
    for label in ("Bravo", "Alpha", "Charlie"):
        customer(name=f"{label} Ltd")
    url = reverse(name)

    def names(query):
        return [c.name for c in finance_client.get(url, query).context["page"].object_list]

    assert names({}) == names({"sort": "name"}) == sorted(names({}))
    assert names({"sort": "-name"}) == list(reversed(names({"sort": "name"})))
    page = finance_client.get(url, {"sort": "-name"}).content.decode()
    assert 'aria-sort="descending"><a href="?sort=name"' in page


def test_the_audit_page_sorts_by_time_both_ways_and_keeps_the_sort_when_filtered(finance_client):
    acme = customer()
    for i in range(3):
        payment(acme, str(i + 1))  # each an audit event
    url = reverse("audit:list")

    def ids(query):
        return [e.pk for e in finance_client.get(url, query).context["page"].object_list]

    newest_first = ids({})
    assert len(newest_first) >= 3
    assert ids({"sort": "-time"}) == newest_first == sorted(newest_first, reverse=True)
    assert ids({"sort": "time"}) == sorted(newest_first)
    page = finance_client.get(url, {"sort": "time", "app": "finance"}).content.decode()
    assert 'aria-sort="ascending"><a href="?sort=-time&amp;app=finance"' in page
    assert '<input type="hidden" name="sort" value="time" form="audit-filters">' in page


@pytest.mark.parametrize("name", ["finance:payment-list", "invoices:list"])
def test_a_deep_page_of_the_big_lists_reads_its_keys_first_and_the_last_page_backwards(finance_client, name):
    """The payment and invoice lists page with common.lists.paginate_deep (issue 20: their last page, p. 12,000,
    took 0.8-0.9 s alone by OFFSET over the joined rows, 40 ms from the index): the page's rows are read by
    primary key (no OFFSET over the rows), the last page from the order read backwards, and the pages are the
    ones plain OFFSET paging gives, in the same number of queries as the first page."""
    acme = customer(name="Acme Pte Ltd", code="ACME")
    for n in range(2 * PER_PAGE + 3):
        if name == "invoices:list":
            purchase_invoice(acme, "5")
        else:
            payment(acme, "5", received_date=TODAY - dt.timedelta(days=n % 7))
    url = reverse(name)
    every = [row.pk for n in (1, 2, 3) for row in finance_client.get(url, {"page": n}).context["page"].object_list]
    assert len(every) == len(set(every)) == 2 * PER_PAGE + 3
    finance_client.get(url)
    with CaptureQueriesContext(connection) as first:
        finance_client.get(url)
    for number in ("2", "3", "999"):
        with CaptureQueriesContext(connection) as queries:
            response = finance_client.get(url, {"page": number})
        page = response.context["page"]
        expected = every[PER_PAGE:2 * PER_PAGE] if number == "2" else every[2 * PER_PAGE:]
        assert [row.pk for row in page.object_list] == expected and page.number == min(int(number), 3)
        assert len(queries) == len(first)
        rows = [q["sql"] for q in queries.captured_queries if '"customers_customer"."name"' in q["sql"]]
        assert rows and not any("OFFSET" in sql for sql in rows)  # the rows by key, not skipped by OFFSET
