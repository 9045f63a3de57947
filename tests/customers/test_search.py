"""The customer list's search: word prefixes of the name and code (any order, any case, accents ignored) from
one GIN index, and the currency filter's choices from an index instead of a scan of every customer."""

import pytest
from django.db import connection
from django.urls import reverse

from customers.filters import CustomerFilterSet
from customers.selectors import currencies, customer_list, customer_search, search_words
from tests.customers.factories import prepaid

pytestmark = pytest.mark.django_db


def codes(q: str, **filters) -> list[str]:
    chosen = CustomerFilterSet({"q": q, **filters}, customer_list(), currencies=currencies())
    return [c.code for c in chosen.qs]


@pytest.fixture
def customers():
    prepaid(name="Acme Logistics Ltd", code="ACME-SG")
    prepaid(name="Globex Shipping Pte. Ltd.", code="C000028")
    prepaid(name="Société Générale Singapore", code="SOCGEN")
    prepaid(name="Zürich Re", code="ZRE", currency="EUR")
    prepaid(name="Initech (Logistics & Supply)", code="INI_2", currency="USD")


def test_search_words_are_lower_case_without_accents_split_on_what_is_not_a_letter_or_digit():
    assert search_words("Société-Générale") == ["societe", "generale"]
    assert search_words("  ACME_SG  c0000 ") == ["acme", "sg", "c0000"]
    assert search_words("Zu\u0308rich") == ["zurich"]  # decomposed ü
    assert search_words("- & %") == []


def test_a_word_prefix_of_the_name_finds_the_customer(customers):
    assert codes("logist") == ["ACME-SG", "INI_2"]  # "Acme Logistics", "Initech (Logistics & Supply)"
    assert codes("Logistics") == ["ACME-SG", "INI_2"]
    assert codes("supp") == ["INI_2"]
    assert codes("ltd") == ["ACME-SG", "C000028"]


def test_every_word_typed_must_start_a_word_in_any_order(customers):
    assert codes("acme log") == ["ACME-SG"]
    assert codes("log acme") == ["ACME-SG"]
    assert codes("acme shipping") == []


def test_the_middle_of_a_word_does_not_match(customers):
    assert codes("gistics") == []
    assert codes("cme") == []
    assert codes("000028") == []


def test_a_code_prefix_finds_the_customer_and_so_does_the_whole_code(customers):
    assert codes("C0000") == ["C000028"]
    assert codes("c000028") == ["C000028"]
    assert codes("ACME-SG") == ["ACME-SG"]
    assert codes("acme-s") == ["ACME-SG"]
    assert codes("INI_2") == ["INI_2"]
    assert codes("socg") == ["SOCGEN"]


def test_case_and_accents_are_ignored_both_ways(customers):
    assert codes("ACME") == codes("acme") == codes("AcMe") == ["ACME-SG"]
    assert codes("societe generale") == ["SOCGEN"]
    assert codes("SOCIÉTÉ") == ["SOCGEN"]
    assert codes("zurich") == codes("Zürich") == ["ZRE"]
    prepaid(name="Cafe Nero", code="NERO")
    assert codes("café") == ["NERO"]


def test_no_match_and_a_search_with_no_letter_or_digit_find_nobody(customers):
    assert codes("nobody") == []
    assert codes("-") == []
    assert codes("&") == []
    assert len(codes("")) == 5 and len(codes("   ")) == 5


def test_the_search_combines_with_the_filters(customers):
    assert codes("logistics", currency="USD") == ["INI_2"]
    assert codes("logistics", currency="usd") == ["INI_2"]


def test_the_search_is_read_from_the_gin_index():
    """The query's expression is the index's, so PostgreSQL can use the index (not a scan of every name)."""
    prepaid(name="Acme Logistics Ltd", code="ACME")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = customer_search(customer_list(), "logist").explain()
    assert "customer_search_idx" in plan


def test_the_list_page_searches_by_word_prefix(customers, finance_client):
    response = finance_client.get(reverse("customers:list"), {"q": "logist"})
    assert [c.code for c in response.context["page"]] == ["ACME-SG", "INI_2"]
    assert response.context["page"].paginator.count == 2
    body = finance_client.get(reverse("customers:list"), {"q": "gistics"}).content.decode()
    assert "No customers match" in body


def test_currencies_are_the_currencies_customers_use_in_order():
    assert currencies() == []
    prepaid(currency="USD")
    prepaid(currency="SGD")
    prepaid(currency="USD")
    prepaid(currency="EUR")
    assert currencies() == ["EUR", "SGD", "USD"]


def test_the_currency_filter_offers_the_currencies_in_use(customers, finance_client):
    form = finance_client.get(reverse("customers:list")).context["form"]
    assert [value for value, _ in form.fields["currency"].choices] == ["", "EUR", "SGD", "USD"]
    response = finance_client.get(reverse("customers:list"), {"currency": "EUR"})
    assert [c.code for c in response.context["page"]] == ["ZRE"]


class TestSearchPagination:
    """A search page reads the matching customers once: their count comes with the page's ids (COUNT(*) OVER
    ()), not from a COUNT before the SELECT."""

    @pytest.fixture
    def thirty(self):
        for i in range(30):
            prepaid(name=f"Bulk Logistics {i:02d}", code=f"BULK{i:02d}")
        prepaid(name="Other", code="OTHER")

    def get(self, client, **params):
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("customers:list"), {"q": "logist", **params}).context["page"]
        return page, [q["sql"] for q in queries.captured_queries]

    def test_the_count_comes_with_the_page_in_one_query(self, thirty, finance_client):
        page, sql = self.get(finance_client)
        assert [c.code for c in page] == [f"BULK{i:02d}" for i in range(25)]
        assert page.paginator.count == 30 and page.paginator.num_pages == 2 and page.has_next()
        assert sum("OVER ()" in s for s in sql) == 1
        assert not any('AS "__count"' in s for s in sql)

    def test_the_next_page_and_pages_past_the_end(self, thirty, finance_client):
        page, _ = self.get(finance_client, page=2)
        assert [c.code for c in page] == [f"BULK{i:02d}" for i in range(25, 30)] and page.number == 2
        assert page.start_index() == 26 and page.end_index() == 30 and not page.has_next()
        for past in ("3", "99", "0", "x"):  # as paginate: past the end or 0 -> the last page, not a number -> 1
            page, _ = self.get(finance_client, page=past)
            assert page.paginator.count == 30
            assert page.number == (1 if past == "x" else 2)

    def test_no_match_is_an_empty_page(self, thirty, finance_client):
        response = finance_client.get(reverse("customers:list"), {"q": "nobody"})
        assert response.context["page"].paginator.count == 0
        assert "No customers match" in response.content.decode()

