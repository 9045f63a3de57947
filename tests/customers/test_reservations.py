import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from customers.models import Reservation, ReservationStatus, Transaction, TransactionKind
from customers.selectors import ledger_mismatches
from customers.services import (
    ReservationError,
    expire_due_reservations,
    reservation_commit,
    reservation_expire,
    reservation_release,
    reservation_reserve,
)
from tests.customers.factories import NOW, SYSTEM, postpaid, prepaid, top_up

pytestmark = pytest.mark.django_db
D = Decimal
LATER = NOW + dt.timedelta(seconds=30)


def reserve(customer, amount, **kwargs):
    kwargs.setdefault("at", NOW)
    return reservation_reserve(customer_id=customer.pk, amount=D(amount), actor=SYSTEM, **kwargs)


class TestReserve:
    def test_holds_credits_out_of_usable_credits(self):
        customer = postpaid("50")
        r = reserve(customer, "20", reference="call-1", timeout_seconds=60)
        customer.refresh_from_db()
        assert r.status == ReservationStatus.OPEN and r.expires_at == NOW + dt.timedelta(seconds=60)
        assert customer.amount_reserved == D("20") and customer.usable_credits == D("30")
        assert AuditEvent.objects.filter(action="customers.reservation.reserve").count() == 1

    def test_more_than_usable_credits_is_refused_with_the_numbers(self):
        customer = prepaid()
        top_up(customer, "12.50")
        with pytest.raises(ReservationError, match=r"^Not enough usable credits: 12.50 SGD available, 20.00 SGD asked\.$"):
            reserve(customer, "20")
        customer.refresh_from_db()
        assert customer.amount_reserved == D("0") and not Reservation.objects.exists()

    def test_the_same_idempotency_key_reserves_once(self):
        customer = postpaid("50")
        a = reserve(customer, "5", idempotency_key="call-abc")
        b = reserve(customer, "5", idempotency_key="call-abc")
        assert a.pk == b.pk and Reservation.objects.count() == 1
        customer.refresh_from_db()
        assert customer.amount_reserved == D("5")

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"amount": "0"}, "more than zero"),
        ({"amount": "1", "kind": TransactionKind.SUBSCRIPTION}, "Only usage"),
        ({"amount": "1", "timeout_seconds": 0}, "timeout must be between"),
    ])
    def test_refuses_bad_input(self, kwargs, message):
        with pytest.raises(ReservationError, match=message):
            reserve(postpaid("50"), **kwargs)


class TestCommit:
    def test_posts_the_final_charge_and_releases_the_rest(self):
        customer = postpaid("50")
        r = reserve(customer, "20")
        reservation_commit(reservation_id=r.pk, amount=D("7.25"), actor=SYSTEM, at=LATER)
        customer.refresh_from_db()
        r.refresh_from_db()
        assert r.status == ReservationStatus.COMMITTED and r.committed_amount == D("7.25")
        assert r.charge.amount == D("-7.25") and r.charge.kind == TransactionKind.CALL
        assert customer.amount_reserved == D("0") and customer.usable_credits == D("42.75")
        assert ledger_mismatches() == []

    def test_a_zero_final_amount_posts_no_charge(self):
        customer = postpaid("50")
        r = reserve(customer, "20")
        r = reservation_commit(reservation_id=r.pk, amount=D("0"), actor=SYSTEM, at=LATER)
        assert r.charge is None and not Transaction.objects.exists()

    def test_more_than_reserved_is_refused(self):
        customer = postpaid("50")
        r = reserve(customer, "20")
        with pytest.raises(ReservationError, match="20.01 SGD is more than the 20.00 SGD reserved"):
            reservation_commit(reservation_id=r.pk, amount=D("20.01"), actor=SYSTEM, at=LATER)
        r.refresh_from_db()
        assert r.status == ReservationStatus.OPEN

    def test_a_late_commit_after_the_timeout_is_refused_even_before_the_job_runs(self):
        customer = postpaid("50")
        r = reserve(customer, "20", timeout_seconds=60)
        with pytest.raises(ReservationError, match="expired at 2026-03-15 12:01:00 UTC: a late commit is refused"):
            reservation_commit(reservation_id=r.pk, amount=D("1"), actor=SYSTEM, at=NOW + dt.timedelta(seconds=60))
        reservation_expire(reservation_id=r.pk, actor=SYSTEM, now=NOW + dt.timedelta(seconds=61))
        with pytest.raises(ReservationError, match="already expired"):
            reservation_commit(reservation_id=r.pk, amount=D("1"), actor=SYSTEM, at=NOW + dt.timedelta(seconds=1))


class TestEachResolvesOnce:
    @pytest.mark.parametrize("first", ["commit", "release", "expire"])
    @pytest.mark.parametrize("second", ["commit", "release", "expire"])
    def test_a_second_resolution_is_refused(self, first, second):
        customer = postpaid("50")
        r = reserve(customer, "20", timeout_seconds=60)
        actions = {
            "commit": lambda: reservation_commit(reservation_id=r.pk, amount=D("5"), actor=SYSTEM, at=LATER),
            "release": lambda: reservation_release(reservation_id=r.pk, actor=SYSTEM, at=LATER),
            "expire": lambda: reservation_expire(reservation_id=r.pk, actor=SYSTEM, now=NOW + dt.timedelta(hours=1)),
        }
        actions[first]()
        with pytest.raises(ReservationError, match="resolves once"):
            actions[second]()
        customer.refresh_from_db()
        assert customer.amount_reserved == D("0")
        assert customer.expecting_invoice == (D("-5") if first == "commit" else D("0"))
        assert AuditEvent.objects.filter(object_id=str(r.pk), action__startswith="customers.reservation.").count() == 2

    def test_the_database_refuses_to_change_a_resolved_reservation(self):
        customer = postpaid("50")
        r = reserve(customer, "20")
        reservation_release(reservation_id=r.pk, actor=SYSTEM, at=LATER)
        with pytest.raises(Exception, match="resolves once"), transaction.atomic(), connection.cursor() as c:
            c.execute("UPDATE customers_reservation SET status = 'open', resolved_at = NULL WHERE id = %s", [r.pk])

    def test_release_gives_everything_back(self):
        customer = postpaid("50")
        r = reserve(customer, "20")
        reservation_release(reservation_id=r.pk, actor=SYSTEM, at=LATER, reason="caller hung up")
        customer.refresh_from_db()
        assert customer.usable_credits == D("50") and not Transaction.objects.exists()


class TestExpiry:
    def test_expire_before_the_timeout_is_refused(self):
        r = reserve(postpaid("50"), "20", timeout_seconds=60)
        with pytest.raises(ReservationError, match="does not expire until 2026-03-15 12:01:00 UTC"):
            reservation_expire(reservation_id=r.pk, actor=SYSTEM, now=NOW + dt.timedelta(seconds=59))

    def test_the_job_expires_exactly_the_reservations_past_their_timeout(self):
        customer = postpaid("100")
        due = [reserve(customer, "10", timeout_seconds=60), reserve(customer, "5", timeout_seconds=120)]
        not_due = reserve(customer, "7", timeout_seconds=600)
        done = reserve(customer, "3", timeout_seconds=60)
        reservation_release(reservation_id=done.pk, actor=SYSTEM, at=LATER)

        assert expire_due_reservations(now=NOW + dt.timedelta(seconds=300), actor=SYSTEM) == 2
        assert {r.pk for r in Reservation.objects.filter(status=ReservationStatus.EXPIRED)} == {r.pk for r in due}
        customer.refresh_from_db()
        assert customer.amount_reserved == D("7") and Reservation.objects.get(pk=not_due.pk).status == "open"
        assert expire_due_reservations(now=NOW + dt.timedelta(seconds=300), actor=SYSTEM) == 0

    def test_the_celery_task_calls_the_job(self, monkeypatch):
        from customers import tasks

        calls = []
        monkeypatch.setattr(tasks, "expire_due_reservations", lambda **kw: calls.append(kw) or 3)
        assert tasks.expire_reservations.apply().get() == 3
        assert calls[0]["actor"].label == "expire-reservations"


class TestOneStatement:
    """Each operation is one PL/pgSQL function call (customers migration 0007): the customer's lock, the
    rule, the writes and the audit event in one round trip, inside the caller's transaction when there is one."""

    def test_reserve_and_commit_are_one_statement_each_and_audited(self):
        from django.test.utils import CaptureQueriesContext

        customer = postpaid("50")
        with CaptureQueriesContext(connection) as reserved:
            r = reserve(customer, "2")
        with CaptureQueriesContext(connection) as committed:
            c = reservation_commit(reservation_id=r.pk, amount=D("0.75"), actor=SYSTEM, at=LATER,
                                   description="call 12 s")
        assert len(reserved.captured_queries) == len(committed.captured_queries) == 1
        assert (c.status, c.committed_amount, c.charge.amount) == (ReservationStatus.COMMITTED, D("0.75"), D("-0.75"))
        assert c.charge.description == "call 12 s" and c.charge.source_id == r.pk
        event = AuditEvent.objects.get(action="customers.reservation.commit")
        assert event.object_id == str(r.pk) and event.object_repr == f"Reservation {r.pk} 2.000000 (committed)"
        assert event.before["reserved_credits"] == "2.000000" and event.before["status"] == "open"
        assert event.after == {"expecting_invoice": "-0.750000", "amount_due": "0.000000",
                               "reserved_credits": "0.000000", "usable_credits": "49.250000",
                               "status": "committed", "committed_amount": "0.750000", "released": "1.250000"}
        assert ledger_mismatches() == []

    def test_the_reservation_comes_back_with_its_customers_figures_from_the_same_statement(
            self, django_assert_num_queries):
        customer = postpaid("50", code="FIG")
        with django_assert_num_queries(1):
            r = reserve(customer, "20")
            assert (r.customer.code, r.customer.currency, r.customer.usable_credits) == (
                "FIG", customer.currency, D("30"))
        with django_assert_num_queries(1):
            c = reservation_commit(reservation_id=r.pk, amount=D("5"), actor=SYSTEM, at=LATER)
            assert (c.customer.code, c.customer.usable_credits) == ("FIG", D("45"))
        customer.refresh_from_db()
        assert customer.usable_credits == D("45")  # what the reply said is what is stored
        released = reservation_release(reservation_id=reserve(customer, "10").pk, actor=SYSTEM, at=LATER)
        assert released.customer.usable_credits == D("45")
        assert released.customer.name == customer.name  # the other fields load when asked for

    def test_inside_the_callers_transaction_it_rolls_back_with_it(self):
        customer = postpaid("50")
        events = AuditEvent.objects.count()
        with transaction.atomic():
            r = reserve(customer, "2")
            reservation_commit(reservation_id=r.pk, amount=D("1"), actor=SYSTEM, at=LATER)
            transaction.set_rollback(True)
        customer.refresh_from_db()
        assert not Reservation.objects.filter(pk=r.pk).exists()
        assert (customer.amount_reserved, customer.amount_unbilled) == (D("0"), D("0"))
        assert AuditEvent.objects.count() == events


class TestHotPathPlans:
    """The telephony hot path must not parse SQL per call: an SQL-language function that PostgreSQL does not
    inline is parsed and planned on every call (it was 36% of the database's CPU in the ledger posting bench,
    bench/README.md). track_functions counts every function that really runs; inlined ones never do."""

    def _functions_called(self, operation) -> dict[str, tuple[str, int]]:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL track_functions = 'all'")
            operation()
            cursor.execute(
                "SELECT p.proname, l.lanname, s.calls FROM pg_stat_xact_user_functions s "
                "JOIN pg_proc p ON p.oid = s.funcid JOIN pg_language l ON l.oid = p.prolang")
            return {name: (language, calls) for name, language, calls in cursor.fetchall()}

    def test_reserve_and_commit_run_no_sql_function_and_inline_the_helpers(self):
        customer = postpaid("50")

        def operation():
            r = reserve(customer, "1.00")
            reservation_commit(reservation_id=r.pk, amount=D("0.75"), actor=SYSTEM, at=NOW)

        called = self._functions_called(operation)
        assert {"customers_reservation_reserve", "customers_reservation_resolve",
                "customers_reservation_audit", "audit_chain_extend"} <= called.keys(), called
        assert not [name for name, (language, _) in called.items() if language == "sql"], called
        # (customers_usable_credits is gone: usable credits are the customer's generated column, read, not computed)
        for inlined in ("customers_figures", "audit_canonical"):
            assert inlined not in called, f"{inlined} ran as a function: not inlined (check its volatility)"
