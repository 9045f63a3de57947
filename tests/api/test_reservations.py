"""The reservation endpoints: reserve, commit, release, read; their refusals as problems."""

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import Customer, Reservation, ReservationStatus, Transaction
from tests.api.helpers import Api, assert_problem, make_key
from tests.customers.factories import postpaid, prepaid, top_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return Api(make_key())


@pytest.fixture
def customer():
    c = prepaid(code="ACME")
    top_up(c, "12.50")
    return c


class TestReserve:
    def test_holds_credits_and_answers_the_reservation(self, api, customer):
        r = api.post("/customers/ACME/reservations", {"amount": "5.25", "reference": "call-1"})
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["status"] == "open" and body["amount"] == "5.25" and body["usable_credits"] == "7.25"
        assert body["customer"] == "ACME" and body["currency"] == "SGD" and body["reference"] == "call-1"
        assert body["expires_at"].endswith(("+00:00", "Z")) or "+" in body["expires_at"]
        customer.refresh_from_db()
        assert customer.amount_reserved == Decimal("5.25")

    def test_the_audit_event_names_the_api_client(self, api, customer):
        api.post("/customers/ACME/reservations", {"amount": "1"})
        event = AuditEvent.objects.filter(action__startswith="customers.reservation").latest("id")
        assert event.actor_kind == "api" and event.actor_label == "telephony-platform"

    def test_expires_in_seconds_sets_the_expiry(self, api, customer):
        body = api.post("/customers/ACME/reservations", {"amount": "1", "expires_in_seconds": 60}).json()
        reservation = Reservation.objects.get(pk=body["id"])
        assert (reservation.expires_at - reservation.created_at).total_seconds() == 60

    def test_refuses_more_than_usable_credits_with_a_finance_readable_detail(self, api, customer):
        r = api.post("/customers/ACME/reservations", {"amount": "20"})
        body = assert_problem(r, 422, "insufficient-credits")
        assert body["detail"] == "Not enough usable credits: 12.50 SGD available, 20.00 SGD asked."
        assert not Reservation.objects.exists()

    def test_unknown_customer_is_404(self, api, customer):
        assert_problem(api.post("/customers/NOPE/reservations", {"amount": "1"}), 404, "not-found")

    def test_a_json_number_amount_is_refused_with_the_field(self, api, customer):
        body = assert_problem(api.post("/customers/ACME/reservations", {"amount": 5}), 422, "validation-error")
        assert body["errors"][0]["field"] == "amount"
        assert "decimal string" in body["errors"][0]["message"]


class TestCommit:
    def test_charges_the_final_amount_and_releases_the_rest(self, api, customer):
        rid = api.post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
        r = api.post(f"/reservations/{rid}/commit", {"amount": "3.20", "description": "Call 3m 12s"})
        assert r.status_code == 200, r.content
        body = r.json()
        assert body["status"] == "committed" and body["committed_amount"] == "3.20"
        assert body["usable_credits"] == "9.30"
        charge = Transaction.objects.get(customer=customer, kind="call")
        assert charge.amount == Decimal("-3.20")

    def test_more_than_reserved_is_refused(self, api, customer):
        rid = api.post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
        assert_problem(api.post(f"/reservations/{rid}/commit", {"amount": "6"}), 422, "rejected")
        assert Reservation.objects.get(pk=rid).status == ReservationStatus.OPEN

    def test_a_resolved_reservation_is_409(self, api, customer):
        rid = api.post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
        api.post(f"/reservations/{rid}/release", {})
        body = assert_problem(api.post(f"/reservations/{rid}/commit", {"amount": "1"}), 409, "reservation-resolved")
        assert "already released" in body["detail"]

    def test_an_expired_reservation_is_409(self, api, customer, time_machine_now):
        rid = api.post("/customers/ACME/reservations", {"amount": "5", "expires_in_seconds": 1}).json()["id"]
        time_machine_now(seconds=5)
        assert_problem(api.post(f"/reservations/{rid}/commit", {"amount": "1"}), 409, "reservation-expired")

    def test_unknown_reservation_is_404_and_leaves_the_key_free(self, api, customer):
        body = assert_problem(api.post("/reservations/999999/commit", {"amount": "1"}, key="k-404"), 404, "not-found")
        assert body["detail"] == "There is no reservation #999999."
        assert_problem(api.post("/reservations/999999/release", {}, key="k-404"), 404, "not-found")
        again = api.post("/customers/ACME/reservations", {"amount": "1"}, key="k-404")
        assert again.status_code == 201 and "Idempotent-Replayed" not in again

    def test_a_retried_commit_replays_its_reply_and_charges_once(self, api, customer):
        rid = api.post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
        first = api.post(f"/reservations/{rid}/commit", {"amount": "2"}, key="c-1")
        again = api.post(f"/reservations/{rid}/commit", {"amount": "2"}, key="c-1")
        assert first.status_code == again.status_code == 200 and again["Idempotent-Replayed"] == "true"
        assert again.json() == first.json() and first.json()["usable_credits"] == "10.50"
        assert Transaction.objects.filter(customer=customer, kind="call").count() == 1
        assert AuditEvent.objects.filter(action="customers.reservation.commit").count() == 1
        # the same key for another reservation's commit: refused, and that reservation stays open
        other = api.post("/customers/ACME/reservations", {"amount": "1"}).json()["id"]
        assert_problem(api.post(f"/reservations/{other}/commit", {"amount": "1"}, key="c-1"), 422,
                       "idempotency-key-reused")
        assert Reservation.objects.get(pk=other).status == ReservationStatus.OPEN


class TestStatements:
    """Every statement is a round trip (bench/api_posting.py): reserve, commit and release read the key, then make
    the service call (which finds the customer or the reservation) and store its reply in one transaction. (In
    a test the transaction's BEGIN and COMMIT are a savepoint and its release; the key's last_used_at is written
    at most once a minute, by the first request here.)"""

    @staticmethod
    def statements(api, path, body) -> list[str]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            r = api.post(path, body)
        assert r.status_code < 300, r.content
        names = ["RELEASE SAVEPOINT", "SAVEPOINT", "customers_reservation_reserve(", "customers_reservation_resolve(",
                 "INSERT INTO common_idempotencyrecord", "FROM api_apikey"]
        return [next((n for n in names if sql.startswith(n) or n in sql), sql) for sql in
                (q["sql"] for q in ctx.captured_queries)]

    def test_reserve_and_commit_statements(self, api, customer):
        api.post("/customers/ACME/reservations", {"amount": "1"})  # last_used_at written
        assert self.statements(api, "/customers/ACME/reservations", {"amount": "1"}) == [
            "FROM api_apikey", "SAVEPOINT", "customers_reservation_reserve(",
            "INSERT INTO common_idempotencyrecord", "RELEASE SAVEPOINT"]
        rid = Reservation.objects.latest("id").pk
        assert self.statements(api, f"/reservations/{rid}/commit", {"amount": "1"}) == [
            "FROM api_apikey", "SAVEPOINT", "customers_reservation_resolve(", "INSERT INTO common_idempotencyrecord",
            "RELEASE SAVEPOINT"]


class TestRelease:
    def test_gives_the_credits_back_and_charges_nothing(self, api, customer):
        rid = api.post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
        r = api.post(f"/reservations/{rid}/release", {"reason": "call failed"})
        assert r.status_code == 200, r.content
        assert r.json()["status"] == "released" and r.json()["usable_credits"] == "12.50"
        assert not Transaction.objects.filter(kind="call").exists()

    def test_takes_no_body(self, api, customer):
        rid = api.post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
        r = api.post(f"/reservations/{rid}/release", raw=b"")
        assert r.status_code == 200, r.content


class TestRead:
    def test_answers_the_state(self, api, customer):
        rid = api.post("/customers/ACME/reservations", {"amount": "5"}).json()["id"]
        body = api.get(f"/reservations/{rid}").json()
        assert body["id"] == rid and body["status"] == "open" and body["usable_credits"] is None

    def test_unknown_is_404_and_a_huge_id_is_422(self, api, customer):
        assert_problem(api.get("/reservations/12345678"), 404, "not-found")
        assert_problem(api.get(f"/reservations/{10**30}"), 422, "validation-error")
        assert_problem(api.get("/reservations/abc"), 422, "validation-error")


def test_postpaid_customer_reserves_against_its_credit_limit(api):
    postpaid("100", code="POST")
    r = api.post("/customers/POST/reservations", {"amount": "100"})
    assert r.status_code == 201 and r.json()["usable_credits"] == "0.00"
    assert Customer.objects.get(code="POST").usable_credits == 0
