"""bench/pages.py's list of pages on a tiny generated database, so it cannot rot while the pages change: every
page, last page and admin changelist it measures resolves and answers 200, each list shows its rows in a `page`
(how the bench finds the last one), and each filter it measures still narrows its list."""

from __future__ import annotations

import pytest

from bench.generate import run
from bench.pages import count_queries, prepare

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.urls")]

SIZE = ["--customers=60", "--transactions=1200", "--invoices=180", "--payments=180", "--months=12", "--seed=7"]


@pytest.fixture
def prep(db):
    run(SIZE, log=lambda message: None)
    return prepare()


def by_label(prep) -> dict:
    return {e.label: e for e in prep["entries"]}


def test_every_page_answers_200_and_has_its_query_count(prep):
    entries = prep["entries"]
    counts = count_queries(entries, prep["clients"])  # PageError naming every URL that did not answer 200
    assert set(counts) == {e.label for e in entries}
    kinds = {e.kind for e in entries}
    assert kinds == {"baseline", "list", "last", "detail", "admin", "admin last"}
    # the generator writes no withdrawals; every other page has its row
    assert set(prep["missing"]) <= {"withdrawal page"}


def test_lists_have_their_last_page_an_admin_changelist_and_filters_that_narrow_them(prep):
    entries = by_label(prep)
    lists = [e for e in entries.values() if e.kind in ("list", "last")]
    assert len(lists) >= 20
    for e in lists:  # each beside a changelist of Django admin measured in the same run
        assert e.admin in entries and entries[e.admin].kind.startswith("admin"), e.label
        assert entries[e.admin].url.startswith("/admin/"), e.label
    # the last page, as the list's own pagination gives it (25 rows a page; admin 100)
    customers = entries["customer list, last page"]
    assert (customers.rows, customers.page, customers.repeat) == (60, 3, False) and customers.url.endswith("page=3")
    assert (entries["invoice list, last page"].rows, entries["invoice list, last page"].page) == (180, 8)
    assert entries["admin | invoice list, last page"].page == 2
    # a renamed filter parameter would leave the list whole: each filtered list is smaller, as admin's is
    for filtered, whole in (("customer list, search", "customer list"), ("invoice list, filters", "invoice list"),
                            ("payment list, filters", "payment list")):
        assert entries[filtered].rows < entries[whole].rows, filtered
        assert entries[f"admin | {filtered}"].rows == entries[filtered].rows, filtered
    assert entries["customer list, search"].rows > 0 and entries["invoice list, filters"].rows > 0
