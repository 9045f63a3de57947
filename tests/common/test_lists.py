"""paginate_one_pass: the page and the count from one pass over the matches, then the page's rows by primary
key, exactly what paginate gives."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from common.lists import paginate, paginate_one_pass
from customers.models import Customer
from customers.selectors import customer_list, customer_search
from finance.models import Payment
from tests.finance.factories import customer, payment

pytestmark = pytest.mark.django_db
RF = RequestFactory()


def _pages(queryset, page: str, per_page: int = 3):
    request = RF.get("/", {"page": page})
    return paginate(request, queryset, per_page), paginate_one_pass(request, queryset, per_page)


def test_gives_what_paginate_gives_page_by_page():
    for i in range(8):
        customer(name=f"Logistics {chr(ord('h') - i)}", code=f"LOG{i}")
    customer(name="Other Trading", code="OTH")
    matches = customer_search(customer_list(), "logist")
    for number in ("1", "2", "3", "4", "0", "x", ""):
        plain, one_pass = _pages(matches, number)
        assert [c.pk for c in one_pass] == [c.pk for c in plain], number
        assert one_pass.paginator.count == plain.paginator.count == 8
        assert one_pass.number == plain.number
    assert [c.name for c in _pages(matches, "1")[1]] == ["Logistics a", "Logistics b", "Logistics c"]


def test_reads_the_rows_as_the_queryset_would_with_its_related_rows(django_assert_num_queries):
    acme = customer(name="Acme")
    for n in range(4):
        payment(acme, f"{n + 1}")
    rows = Payment.objects.select_related("customer").only("id", "amount", "customer__name").order_by("-id")
    with django_assert_num_queries(2):
        page = paginate_one_pass(RF.get("/"), rows, 3)
        assert [p.customer.name for p in page] == ["Acme"] * 3  # no query per row
    assert page.object_list[0].get_deferred_fields() >= {"reference", "currency"}


def test_refuses_a_queryset_selecting_annotations():
    from django.db.models import Value

    customer(name="Acme")
    with pytest.raises(AssertionError, match="annotations"):
        paginate_one_pass(RF.get("/"), Customer.objects.annotate(x=Value(1)).order_by("id"))
