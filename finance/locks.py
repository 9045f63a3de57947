"""Row locks for finance rows, taken only through these helpers.

Lock order across the project: customer (customers.locks) -> master wallet -> invoice(s) by pk
(invoices.locks) -> payment(s) by pk -> the allocation / top-up row being undone. A service that does not
know the customer yet reads it unlocked, locks it, then locks the payment and checks that the payment still
belongs to that customer (see services/_common.py: `lock_payment_for_change`).

FOR NO KEY UPDATE (`no_key=True`), as in customers/locks.py: no service changes these rows' keys."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from .models import Allocation, Payment, TopUp


def _in_transaction() -> None:
    assert transaction.get_connection().in_atomic_block, "lock inside a transaction"


def lock_payment(payment_id: int) -> Payment:
    """SELECT ... FOR NO KEY UPDATE the payment row; raises Payment.DoesNotExist."""
    _in_transaction()
    return Payment.objects.select_for_update(of=("self",), no_key=True).get(pk=payment_id)


def lock_payments(payment_ids: Iterable[int]) -> dict[int, Payment]:
    _in_transaction()
    ids = sorted(set(payment_ids))
    return {p.pk: p for p in Payment.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",), no_key=True)}


def lock_allocation(allocation_id: int) -> Allocation:
    _in_transaction()
    return Allocation.objects.select_for_update(of=("self",), no_key=True).get(pk=allocation_id)


def lock_top_up(top_up_id: int) -> TopUp:
    _in_transaction()
    return TopUp.objects.select_for_update(of=("self",), no_key=True).get(pk=top_up_id)


def lock_auto_top_up_requests() -> None:
    """Staff's "Run now" requests queue here, one at a time (a transaction-level advisory lock: there is no
    row to lock before the day's first run exists), so two clicks cannot both queue a run."""
    _in_transaction()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('finance_auto_top_up_run_now'))")
