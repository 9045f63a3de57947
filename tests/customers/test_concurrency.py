"""Concurrency, against the real PostgreSQL, with threads (each thread closes its connection)."""

import datetime as dt
import random
import threading
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import (
    Customer,
    MasterWallet,
    MasterWalletEntry,
    Reservation,
    ReservationStatus,
    Transaction,
)
from customers.selectors import ledger_mismatches
from customers.services import (
    ChargeError,
    ReservationError,
    WalletError,
    charge_post,
    expire_due_reservations,
    master_wallet_transfer,
    reservation_commit,
    reservation_expire,
    reservation_release,
    reservation_reserve,
)
from tests import threads
from tests.customers.factories import NOW, SYSTEM, funded_wallet, postpaid

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def run_threads(count, target):
    errors = threads.run_threads(count, target)
    assert errors == [], errors


def test_16_threads_x_50_reservations_never_overdraw_usable_credits():
    available = D("1000.00")
    customer = postpaid(available)
    accepted, refused, lock = [], [], threading.Lock()

    def reserve_many(i):
        rng = random.Random(i)
        for n in range(50):
            amount = D(rng.randint(1, 9000)) / 100  # 0.01 .. 90.00
            try:
                r = reservation_reserve(customer_id=customer.pk, amount=amount, actor=SYSTEM, at=NOW,
                                        reference=f"t{i}-{n}")
            except ReservationError as exc:
                assert str(exc).startswith("Not enough usable credits: ") and "SGD available" in str(exc), exc
                with lock:
                    refused.append(amount)
            else:
                with lock:
                    accepted.append(r.amount)

    run_threads(16, reserve_many)

    customer.refresh_from_db()
    total = sum(accepted, D("0"))
    assert len(accepted) + len(refused) == 800
    assert refused, "the account must have run out"
    assert total <= available
    assert customer.amount_reserved == total
    assert customer.usable_credits == available - total >= 0
    assert min(refused) > customer.usable_credits  # every refusal was a real shortage
    assert Reservation.objects.filter(customer=customer).count() == len(accepted)
    assert AuditEvent.objects.filter(action="customers.reservation.reserve").count() == len(accepted)
    assert ledger_mismatches() == []


def test_commit_release_and_expire_racing_on_1000_reservations_resolve_each_once():
    customers = [postpaid("1000", code=f"R{i}") for i in range(10)]
    ids = [reservation_reserve(customer_id=customers[i % 10].pk, amount=D(1 + i % 9), actor=SYSTEM, at=NOW,
                               timeout_seconds=60).pk for i in range(1000)]
    won: dict[str, list[int]] = {"commit": [], "release": [], "expire": [], "job": []}
    lock = threading.Lock()
    late = NOW + dt.timedelta(hours=1)

    def attempt(name, reservation_id):
        if name == "commit":
            reservation_commit(reservation_id=reservation_id, amount=D("0.5"), actor=SYSTEM,
                               at=NOW + dt.timedelta(seconds=1))
        elif name == "release":
            reservation_release(reservation_id=reservation_id, actor=SYSTEM, at=NOW + dt.timedelta(seconds=1))
        else:
            reservation_expire(reservation_id=reservation_id, actor=SYSTEM, now=late)

    def racer(i):
        if i == 3:
            won["job"].append(expire_due_reservations(now=late, actor=SYSTEM))
            return
        name = ["commit", "release", "expire"][i]
        order = ids[:]
        random.Random(i).shuffle(order)
        for reservation_id in order:
            try:
                attempt(name, reservation_id)
            except ReservationError as exc:
                assert "resolves once" in str(exc), exc
            else:
                with lock:
                    won[name].append(reservation_id)

    run_threads(4, racer)

    resolved = won["commit"] + won["release"] + won["expire"]
    job_count = won["job"][0]
    assert len(resolved) + job_count == 1000
    assert len(set(resolved)) == len(resolved)
    statuses = dict(Reservation.objects.values_list("id", "status"))
    assert all(statuses[i] == ReservationStatus.COMMITTED for i in won["commit"])
    assert all(statuses[i] == ReservationStatus.RELEASED for i in won["release"])
    assert sum(1 for s in statuses.values() if s == ReservationStatus.EXPIRED) == len(won["expire"]) + job_count
    assert ReservationStatus.OPEN not in statuses.values()
    assert all(c.amount_reserved == 0 for c in Customer.objects.filter(code__startswith="R"))
    assert sum(c.amount_unbilled for c in Customer.objects.filter(code__startswith="R")) == D("-0.5") * len(won["commit"])
    assert Transaction.objects.count() == len(won["commit"])
    resolutions = AuditEvent.objects.filter(action__in=["customers.reservation.commit", "customers.reservation.release",
                                                        "customers.reservation.expire"])
    assert resolutions.count() == 1000
    assert ledger_mismatches() == []


def test_16_threads_drawing_on_one_master_wallet_never_take_it_below_zero():
    wallet = funded_wallet("500")
    customers = [postpaid("0", code=f"W{i}") for i in range(8)]
    accepted, lock = [], threading.Lock()

    def draw(i):
        rng = random.Random(100 + i)
        customer = customers[i % len(customers)]  # two threads per customer
        for _ in range(20):
            amount = D(rng.randint(100, 3000)) / 100
            try:
                row = master_wallet_transfer(customer_id=customer.pk, amount=amount, actor=SYSTEM, at=NOW)
            except WalletError as exc:
                assert "holds only" in str(exc), exc
            else:
                with lock:
                    accepted.append(row.amount)

    run_threads(16, draw)

    wallet.refresh_from_db()
    total = sum(accepted, D("0"))
    assert wallet.balance >= 0 and wallet.balance == D("500") - total
    assert total > D("470")  # it was drained: the smallest transfer is 1.00, the largest 30.00
    legs_out = MasterWalletEntry.objects.filter(wallet=wallet, customer__isnull=False)
    assert legs_out.count() == len(accepted) == Transaction.objects.filter(kind="transfer").count()
    assert all(e.transaction_id is not None and e.amount == -e.transaction.amount for e in legs_out.select_related("transaction"))
    assert sum(c.amount_due + c.amount_unbilled for c in Customer.objects.filter(code__startswith="W")) == total
    assert MasterWallet.objects.get(pk=wallet.pk).balance >= 0
    assert ledger_mismatches() == []


def test_a_retried_charge_posts_once_under_concurrency():
    customer = postpaid("100")

    def post(i):
        try:
            charge_post(customer_id=customer.pk, kind="call", amount=D("2"), idempotency_key="cdr-777", actor=SYSTEM,
                        at=NOW)
        except ChargeError as exc:  # pragma: no cover - would be a bug
            raise AssertionError(exc)

    run_threads(8, post)
    assert Transaction.objects.filter(idempotency_key="cdr-777").count() == 1
    customer.refresh_from_db()
    assert customer.expecting_invoice == D("-2")
    assert AuditEvent.objects.filter(action="customers.charge.post").count() == 1


def test_one_idempotency_key_from_16_threads_reserves_once_and_every_retry_gets_that_reservation():
    customer, other = postpaid("1000", code="K1"), postpaid("1000", code="K2")
    got, refused, lock = [], [], threading.Lock()

    def retry(i):
        target = other if i == 15 else customer  # one thread reuses the key for another customer
        try:
            r = reservation_reserve(customer_id=target.pk, amount=D("3"), actor=SYSTEM, at=NOW,
                                    idempotency_key="call-77")
        except ReservationError as exc:
            assert "already used for a different reservation" in str(exc), exc
            with lock:
                refused.append(i)
        else:
            with lock:
                got.append((r.pk, r.customer_id))

    run_threads(16, retry)

    reservation = Reservation.objects.get(idempotency_key="call-77")
    assert set(got) == {(reservation.pk, reservation.customer_id)}
    # whoever came first owns the key: the other customer's attempt, or every retry after it, is refused
    assert sorted(refused) == ([15] if reservation.customer_id == customer.pk else list(range(15)))
    customer.refresh_from_db(), other.refresh_from_db()
    assert customer.amount_reserved + other.amount_reserved == D("3")
    assert AuditEvent.objects.filter(action="customers.reservation.reserve").count() == 1
    assert ledger_mismatches() == []
