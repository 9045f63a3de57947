"""Charges, charge batches, a customer's figures and transactions (keyset pages)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Transaction
from tests.api.helpers import Api, assert_problem, make_key
from tests.customers.factories import ledger_post, prepaid, top_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return Api(make_key())


@pytest.fixture
def customer():
    c = prepaid(code="ACME")
    top_up(c, "100")
    return c


def _when(minutes_ago=1):
    return (timezone.now() - dt.timedelta(minutes=minutes_ago)).isoformat()


class TestCharge:
    def test_posts_one_charge(self, api, customer):
        r = api.post("/customers/ACME/charges", {"kind": "sms", "amount": "0.05", "occurred_at": _when(),
                                                 "reference": "sms-1", "description": "SMS to +65"})
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["amount"] == "0.05" and body["usable_credits"] == "99.95" and body["kind"] == "sms"
        assert Transaction.objects.get(pk=body["id"]).amount == Decimal("-0.05")

    def test_usage_beyond_usable_credits_is_refused(self, api, customer):
        body = assert_problem(api.post("/customers/ACME/charges", {"kind": "call", "amount": "100.01",
                                                                    "occurred_at": _when()}), 422, "insufficient-credits")
        assert body["detail"] == "Not enough usable credits: 100.00 SGD available, 100.01 SGD asked."

    def test_an_unknown_kind_and_a_naive_time_are_validation_errors(self, api, customer):
        body = assert_problem(api.post("/customers/ACME/charges", {"kind": "top_up", "amount": "1",
                                                                    "occurred_at": _when()}), 422, "validation-error")
        assert body["errors"][0]["field"] == "kind"
        body = assert_problem(api.post("/customers/ACME/charges", {"kind": "call", "amount": "1",
                                                                    "occurred_at": "2026-01-01T10:00:00"}),
                              422, "validation-error")
        assert body["errors"][0]["field"] == "occurred_at"

    @pytest.mark.parametrize("when", [0, 1767225600, 1.5, "0", "1767225600", True, None, [], {}])
    def test_a_time_that_is_not_iso_8601_text_is_refused(self, api, customer, when):
        # Found by the contract tests: pydantic read a JSON number (and a numeric string) as a Unix time, so
        # {"occurred_at": 0} posted a charge dated 1970-01-01 instead of being refused.
        body = assert_problem(api.post("/customers/ACME/charges", {"kind": "call", "amount": "1", "occurred_at": when}),
                              422, "validation-error")
        assert body["errors"][0]["field"] == "occurred_at" and "ISO 8601" in body["errors"][0]["message"], body
        batch = {"reference": "b-1", "lines": [{"kind": "call", "amount": "1", "occurred_at": when}]}
        body = assert_problem(api.post("/customers/ACME/charge-batches", batch), 422, "validation-error")
        assert body["errors"][0]["field"] == "lines.0.occurred_at", body
        assert not Transaction.objects.filter(kind="call").exists()

    def test_any_iso_offset_is_the_same_instant_in_utc(self, api, customer):
        # Found by the contract tests: ISO 8601 allows offsets up to 23:59, PostgreSQL up to 15:59, so an offset
        # of -18:25 reached the database as it was and was a 500.
        r = api.post("/customers/ACME/charges", {"kind": "call", "amount": "1", "occurred_at": "2026-01-01T10:00:00-18:25"})
        assert r.status_code == 201, r.content
        assert Transaction.objects.get(pk=r.json()["id"]).occurred_at == dt.datetime(2026, 1, 2, 4, 25, tzinfo=dt.UTC)
        charge_id = r.json()["id"]
        ids = [t["id"] for t in api.get("/customers/ACME/transactions", {"since": "2026-01-01T10:00:00-18:25"}).json()["items"]]
        assert charge_id in ids  # at the instant: included
        ids = [t["id"] for t in api.get("/customers/ACME/transactions", {"since": "2026-01-01T10:00:01-18:25"}).json()["items"]]
        assert charge_id not in ids  # a second later: not
        assert api.get("/customers/ACME/transactions", {"since": "6013-04-01T18:24:08.11-18:25"}).status_code == 200
        for edge in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
            body = assert_problem(api.get("/customers/ACME/transactions", {"since": edge}), 422, "validation-error")
            assert body["errors"][0]["field"] == "since", body

    def test_a_future_charge_is_refused(self, api, customer):
        future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
        assert_problem(api.post("/customers/ACME/charges", {"kind": "call", "amount": "1", "occurred_at": future}),
                       422, "rejected")


class TestBatch:
    def _lines(self, n, amount="0.01"):
        return [{"kind": "call", "amount": amount, "occurred_at": _when(i % 50 + 1), "reference": f"cdr-{i}"}
                for i in range(n)]

    def test_posts_every_line_with_counts_and_total(self, api, customer):
        r = api.post("/customers/ACME/charge-batches", {"reference": "cdr-2026-03-15.csv", "lines": self._lines(3)})
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["lines"] == 3 and body["total"] == "0.03" and body["usable_credits"] == "99.97"

    def test_all_or_nothing(self, api, customer):
        lines = self._lines(3) + [{"kind": "call", "amount": "-1", "occurred_at": _when()}]
        body = assert_problem(api.post("/customers/ACME/charge-batches", {"reference": "bad", "lines": lines}),
                              422, "validation-error")
        assert body["errors"][0]["field"] == "lines.3.amount"
        assert_problem(api.post("/customers/ACME/charge-batches",
                                {"reference": "big", "lines": self._lines(2, "60")}), 422, "insufficient-credits")
        assert not Transaction.objects.filter(kind="call").exists()

    def test_ten_thousand_lines_fit(self, api, customer):
        top_up(customer, "1000")
        r = api.post("/customers/ACME/charge-batches", {"reference": "cdr-big", "lines": self._lines(10_000)})
        assert r.status_code == 201, r.content[:300]
        assert r.json()["lines"] == 10_000 and r.json()["total"] == "100.00"

    def test_more_than_ten_thousand_lines_is_422(self, api, customer):
        r = api.post("/customers/ACME/charge-batches", {"reference": "too-many", "lines": self._lines(10_001)})
        assert assert_problem(r, 422, "validation-error")["errors"][0]["field"] == "lines"


class TestCustomer:
    def test_the_figures(self, api, customer):
        api.post("/customers/ACME/reservations", {"amount": "10"})
        body = api.get("/customers/ACME").json()
        assert body == {"code": "ACME", "name": customer.name, "currency": "SGD", "account_type": "prepaid",
                        "usable_credits": "90.00", "expecting_invoice": "0.00", "amount_due": "100.00",
                        "current_balance": "100.00", "reserved": "10.00", "credit_limit": "0.00"}

    def test_unknown_is_404(self, api):
        assert_problem(api.get("/customers/NOPE"), 404, "not-found")


class TestTransactions:
    def test_newest_first_in_keyset_pages_with_filters(self, api, customer):
        now = timezone.now()
        for i in range(5):
            ledger_post(customer, "call", "-1", at=now - dt.timedelta(minutes=i))
        first = api.get("/customers/ACME/transactions", {"limit": 2}).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        ids = [t["id"] for t in first["items"]]
        seen = list(ids)
        cursor = first["next_cursor"]
        while cursor:
            page = api.get("/customers/ACME/transactions", {"limit": 2, "cursor": cursor}).json()
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
        expected = list(Transaction.objects.filter(customer=customer).order_by("-occurred_at", "-id")
                        .values_list("id", flat=True))
        assert seen == expected and len(seen) == 6
        calls = api.get("/customers/ACME/transactions", {"kind": "call"}).json()["items"]
        assert len(calls) == 5 and {t["amount"] for t in calls} == {"-1.00"}
        since = api.get("/customers/ACME/transactions", {"since": (now - dt.timedelta(seconds=90)).isoformat()}).json()
        assert len(since["items"]) == 3  # the top-up and two calls

    def test_a_bad_cursor_kind_or_since_is_422(self, api, customer):
        for params in ({"cursor": "not-a-cursor"}, {"kind": "nonsense"}, {"since": "yesterday"},
                       {"since": "2026-01-01T00:00:00"}, {"since": "0"}, {"since": "1767225600"}, {"limit": 0},
                       {"limit": 10**20}):
            assert_problem(api.get("/customers/ACME/transactions", params), 422, "validation-error")
