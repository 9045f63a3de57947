"""Concurrency through the API, against PostgreSQL with threads (tests/threads.py), each request on its own
connection through Django's test client: one Idempotency-Key makes one effect however many requests race with
it; reservations never take usable credits below zero; commit and release racing: exactly one wins."""

from decimal import Decimal

import pytest

from customers.models import Customer, Reservation, ReservationStatus, Transaction
from tests.api.helpers import Api, make_key
from tests.customers.factories import prepaid, top_up
from tests.threads import run_calls

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key():
    customer = prepaid(code="ACME")
    top_up(customer, "10")
    return make_key()


def test_sixteen_requests_with_one_idempotency_key_make_one_effect(key):
    def call():
        return Api(key).post("/customers/ACME/charges", {"kind": "call", "amount": "0.50",
                                                         "occurred_at": "2026-01-01T10:00:00+08:00"}, key="same")

    responses = run_calls([call] * 16)
    assert [r.status_code for r in responses] == [201] * 16
    assert len({r.content for r in responses}) == 1
    assert sum(1 for r in responses if r.get("Idempotent-Replayed") == "true") == 15
    assert Transaction.objects.filter(kind="call").count() == 1
    assert Customer.objects.get(code="ACME").usable_credits == Decimal("9.50")


def test_one_key_racing_on_eight_customers_makes_one_effect(key):
    # The effects do not wait for each other here (eight customers, eight row locks): the key's record, the
    # last write of each transaction, lets one commit and rolls the seven others back.
    for n in range(8):
        top_up(prepaid(code=f"C{n}"), "10")

    def call(n):
        return lambda: Api(key).post(f"/customers/C{n}/reservations", {"amount": "1"}, key="shared-key")

    responses = run_calls([call(n) for n in range(8)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 7, statuses
    assert all(r.json()["type"].endswith("/idempotency-key-reused") for r in responses if r.status_code == 422)
    assert Reservation.objects.count() == 1
    winner = Reservation.objects.get()
    assert [c.usable_credits for c in Customer.objects.filter(code__startswith="C").order_by("code")] == [
        Decimal("9") if c.pk == winner.customer_id else Decimal("10") for c in
        Customer.objects.filter(code__startswith="C").order_by("code")]


def test_sixteen_clients_reserving_never_take_usable_credits_below_zero(key):
    def call():
        return Api(key).post("/customers/ACME/reservations", {"amount": "3"})

    responses = run_calls([call] * 16)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [422] * 13
    customer = Customer.objects.get(code="ACME")
    assert customer.amount_reserved == Decimal("9") and customer.usable_credits == Decimal("1")
    assert all(r.json()["type"].endswith("/insufficient-credits") for r in responses if r.status_code == 422)


def test_commit_and_release_racing_on_one_reservation_exactly_one_wins(key):
    for _ in range(5):
        rid = Api(key).post("/customers/ACME/reservations", {"amount": "1"}).json()["id"]
        commit = lambda rid=rid: Api(key).post(f"/reservations/{rid}/commit", {"amount": "1"})  # noqa: E731
        release = lambda rid=rid: Api(key).post(f"/reservations/{rid}/release", {})  # noqa: E731
        responses = run_calls([commit, release, commit, release])
        assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
        winner = next(r for r in responses if r.status_code == 200).json()["status"]
        assert Reservation.objects.get(pk=rid).status == winner != ReservationStatus.OPEN
    customer = Customer.objects.get(code="ACME")
    assert customer.amount_reserved == 0
    assert customer.usable_credits == Decimal("10") - Transaction.objects.filter(kind="call").count()
