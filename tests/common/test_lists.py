"""paginate_one_pass: the page and the count from one pass over the matches, then the page's rows by primary
key, exactly what paginate gives."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from common.lists import paginate, paginate_deep, paginate_one_pass
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


class TestPaginateDeep:
    """paginate_deep: the page's keys first, the last page read backwards; exactly what paginate gives."""

    def _payments(self, n: int):
        acme = customer(name="Acme")
        for i in range(n):
            payment(acme, f"{i + 1}")
        return Payment.objects.select_related("customer").order_by("-amount", "-id")

    @pytest.mark.parametrize("cap", [100, 4])  # counted exactly, and past the cap ("4+")
    def test_gives_what_paginate_gives_page_by_page(self, cap):
        rows = self._payments(8)
        for number in ("1", "2", "3", "4", "999", "0", "x", "", "-1"):
            request = RF.get("/", {"page": number})
            plain, deep = paginate(request, rows, 3), paginate_deep(request, rows, 3, cap=cap)
            assert [p.pk for p in deep] == [p.pk for p in plain], (number, cap)
            assert deep.number == plain.number, (number, cap)
            assert deep.has_next() == plain.has_next(), (number, cap)
        last = paginate_deep(RF.get("/", {"page": "999"}), rows, 3, cap=cap)
        assert last.number == 3 and [p.amount for p in last] == [2, 1] and last.paginator.count == 8
        middle = paginate_deep(RF.get("/", {"page": "2"}), rows, 3, cap=cap)
        assert middle.paginator.count == (8 if cap == 100 else 7)  # past the cap: up to the next page's first key
        assert getattr(middle.paginator, "count_label", None) == (None if cap == 100 else "4+")

    def test_constant_queries_with_the_related_and_prefetched_rows(self, django_assert_num_queries):
        from django.db.models import Prefetch

        from finance.models import Allocation

        rows = self._payments(7).prefetch_related(Prefetch("allocations", queryset=Allocation.objects.all(),
                                                           to_attr="allocated"))
        for number in ("1", "2", "999"):  # the capped count, the keys, the rows, the prefetch
            with django_assert_num_queries(4):
                page = paginate_deep(RF.get("/", {"page": number}), rows, 3)
                assert [p.customer.name for p in page] and all(p.allocated == [] for p in page)

    def test_as_many_queries_past_the_cap(self, django_assert_num_queries):
        """A page past the cap (the last one, a number past the rows) counts every row instead of the capped
        count, not after it: the same queries as the first page (the inbox's last page made 11 instead of 10)."""
        from django.db.models import Prefetch

        from finance.models import Allocation

        rows = self._payments(7).prefetch_related(Prefetch("allocations", queryset=Allocation.objects.all(),
                                                           to_attr="allocated"))
        for number in ("1", "2", "3", "999", "0", "x"):  # 3: past the cap of 4 rows, the last page
            with django_assert_num_queries(4):
                page = paginate_deep(RF.get("/", {"page": number}), rows, 3, cap=4)
                assert [p.customer.name for p in page] and all(p.allocated == [] for p in page)
