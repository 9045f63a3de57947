"""Posting to a customer's ledger: the only Python code that inserts Transactions or changes the running totals
(the other place is SQL: the reservation functions of customers/sql/reservations.sql, which post a call's charge
and move the reserved total, in one statement per operation).

These are primitives, not services: they write no audit event of their own. The calling service (here or
in a higher app) locks the customer first with customers.locks.lock_customer, posts, and records the one
audit event of the change."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F, Sum

from .models import PURCHASE_KINDS, USAGE_KINDS, Bucket, Customer, InvoiceSetup, Transaction, TransactionKind
from .money import ZERO, quantize

# Credit that arrives as top-up: unbilled CR for consolidated/none customers; for `individual` customers it
# stays in the amount due as unapplied CR.
CREDIT_KINDS = frozenset({TransactionKind.TOP_UP, TransactionKind.TOP_UP_REMOVAL, TransactionKind.TRANSFER})
DUE_KINDS = frozenset({
    TransactionKind.PAYMENT, TransactionKind.PAYMENT_UNASSIGNED, TransactionKind.INVOICE,
    TransactionKind.INVOICE_VOID, TransactionKind.CREDIT_NOTE, TransactionKind.WITHDRAWAL,
})


def bucket_for(customer: Customer, kind: str) -> str:
    """Which figure a new entry of this kind counts in, by the customer's invoice setup (DESIGN.md)."""
    if kind in USAGE_KINDS or kind in PURCHASE_KINDS or kind == TransactionKind.ADJUSTMENT:
        return Bucket.UNBILLED
    if kind in CREDIT_KINDS:
        return Bucket.DUE if customer.invoice_setup == InvoiceSetup.INDIVIDUAL else Bucket.UNBILLED
    if kind in DUE_KINDS:
        return Bucket.DUE
    raise ValueError(f"No bucket rule for kind {kind!r}; pass bucket= explicitly.")


@dataclass(frozen=True)
class Entry:
    kind: str
    amount: Decimal
    bucket: str | None = None
    reference: str = ""
    description: str = ""
    source_type: str = ""
    source_id: int | None = None
    idempotency_key: str | None = None
    reverses_id: int | None = None
    # When the event happened, if not at the posting time (a batch of rated calls, imported history).
    occurred_at: dt.datetime | None = None


def _row(customer: Customer, e: Entry, at: dt.datetime) -> Transaction:
    """The ledger row an Entry becomes (post and bill_many write the same rows)."""
    return Transaction(customer=customer, kind=e.kind, bucket=e.bucket or bucket_for(customer, e.kind),
                       amount=quantize(e.amount), occurred_at=e.occurred_at or at, reference=e.reference[:120],
                       description=e.description[:255], source_type=e.source_type, source_id=e.source_id,
                       idempotency_key=e.idempotency_key, reverses_id=e.reverses_id)


def post(customer: Customer, entries: Iterable[Entry], *, at: dt.datetime) -> list[Transaction]:
    """Insert entries and move the running totals by their sums, with F() in one UPDATE.

    `customer` must be the row locked by lock_customer in the current transaction; its in-memory totals are
    refreshed so the caller can read the figures after posting."""
    assert transaction.get_connection().in_atomic_block, "post inside the caller's transaction"
    rows = [_row(customer, e, at) for e in entries]
    if not rows:
        return []
    Transaction.objects.bulk_create(rows)
    unbilled = sum((t.amount for t in rows if t.bucket == Bucket.UNBILLED), ZERO)
    due = sum((t.amount for t in rows if t.bucket == Bucket.DUE), ZERO)
    _move_totals(customer, unbilled=unbilled, due=due)
    return rows


def mark_billed(customer: Customer, transaction_ids: list[int], *, document: str, at: dt.datetime) -> Decimal:
    """An invoice bills these unbilled entries: they leave Expecting invoice (one-way mark; the invoice
    posts its own total on the due side). Returns their sum. Entries already billed are refused."""
    ids = set(transaction_ids)
    qs = Transaction.objects.filter(pk__in=ids, customer=customer, bucket=Bucket.UNBILLED, billed_at__isnull=True)
    found = qs.aggregate(s=Sum("amount"), n=Count("id"))
    # Refuse before writing anything: a caller that catches the error inside its own transaction must not be
    # left with entries marked billed and totals not moved.
    if found["n"] != len(ids):
        raise ValueError("Some transactions are already billed or belong to another customer.")
    total = found["s"] or ZERO
    qs.update(billed_at=at, billed_document=document)
    _move_totals(customer, unbilled=-total, due=ZERO)
    return total


def _move_totals(customer: Customer, *, unbilled: Decimal, due: Decimal) -> None:
    if unbilled or due:
        Customer.objects.filter(pk=customer.pk).update(
            amount_unbilled=F("amount_unbilled") + unbilled, amount_due=F("amount_due") + due
        )
    customer.refresh_from_db(fields=Customer.RUNNING_TOTALS)


def recompute(customer_id: int) -> dict[str, Decimal]:
    """The figures from the rows alone (check_ledger compares them with the running totals)."""
    from .models import Reservation, ReservationStatus

    unbilled = Transaction.objects.filter(customer_id=customer_id, bucket=Bucket.UNBILLED,
                                          billed_at__isnull=True).aggregate(s=Sum("amount"))["s"] or ZERO
    due = Transaction.objects.filter(customer_id=customer_id, bucket=Bucket.DUE).aggregate(s=Sum("amount"))["s"] or ZERO
    reserved = Reservation.objects.filter(customer_id=customer_id, status=ReservationStatus.OPEN).aggregate(
        s=Sum("amount"))["s"] or ZERO
    return {"amount_unbilled": unbilled, "amount_due": due, "amount_reserved": reserved}


@dataclass(frozen=True)
class Billing:
    """One customer's part of a batch (ledger.bill_many): `billed_ids` leave Expecting invoice marked with
    `document`, `entries` are posted (the invoice's total on the due side, a CREDIT_APPLIED pair)."""

    customer: Customer
    document: str
    billed_ids: tuple[int, ...]
    entries: tuple[Entry, ...] = ()


def bill_many(items: list[Billing], *, at: dt.datetime) -> dict[int, list[Transaction]]:
    """mark_billed and post for many customers at once (the billing run's chunk), in three statements
    whatever their number: one UPDATE marks every entry billed with its customer's document, one multi-row
    INSERT posts every entry, one UPDATE moves every customer's running totals by its sums. The customers
    must be locked by the caller (lock_customers); their in-memory totals are set from the UPDATE's RETURNING.
    Entries already billed or another customer's are refused before anything moves (as mark_billed).
    Returns the posted rows by customer id, in the order given."""
    assert transaction.get_connection().in_atomic_block, "bill inside the caller's transaction"
    by_id = {item.customer.pk: item.customer for item in items}
    tids, owners, docs = [], [], []
    for item in items:
        tids += item.billed_ids
        owners += [item.customer.pk] * len(item.billed_ids)
        docs += [item.document] * len(item.billed_ids)
    unbilled: dict[int, Decimal] = defaultdict(lambda: ZERO)
    due: dict[int, Decimal] = defaultdict(lambda: ZERO)
    if tids:
        with connection.cursor() as cursor:
            # Refuse before writing: count what may be marked first (a caller catching the error must not be
            # left with entries marked and totals not moved).
            cursor.execute(
                """SELECT count(*) FROM customers_transaction t
                                JOIN unnest(%s::bigint[], %s::bigint[]) v(id, customer_id) USING (id, customer_id)
                               WHERE t.bucket = 'unbilled' AND t.billed_at IS NULL""",
                [tids, owners],
            )
            if cursor.fetchone()[0] != len(set(tids)) or len(set(tids)) != len(tids):
                raise ValueError("Some transactions are already billed or belong to another customer.")
            cursor.execute(
                """UPDATE customers_transaction t SET billed_at = %s, billed_document = v.document
                                FROM unnest(%s::bigint[], %s::text[]) v(id, document)
                               WHERE t.id = v.id RETURNING t.customer_id, t.amount""",
                [at, tids, docs],
            )
            for customer_id, amount in cursor.fetchall():
                unbilled[customer_id] -= amount
    rows = [_row(item.customer, e, at) for item in items for e in item.entries]
    if rows:
        Transaction.objects.bulk_create(rows)
    posted: dict[int, list[Transaction]] = defaultdict(list)
    for row in rows:
        posted[row.customer_id].append(row)
        (unbilled if row.bucket == Bucket.UNBILLED else due)[row.customer_id] += row.amount
    moved = sorted(set(unbilled) | set(due))
    if moved:
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE customers_customer c
                                 SET amount_unbilled = c.amount_unbilled + v.unbilled, amount_due = c.amount_due + v.due
                                FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[]) v(id, unbilled, due)
                               WHERE c.id = v.id
                           RETURNING c.id, c.amount_unbilled, c.amount_due, c.amount_reserved, c.usable_credits""",
                [moved, [unbilled[i] for i in moved], [due[i] for i in moved]],
            )
            for pk, *totals in cursor.fetchall():
                for name, value in zip(Customer.RUNNING_TOTALS, totals, strict=True):
                    setattr(by_id[pk], name, value)
    return {item.customer.pk: posted[item.customer.pk] for item in items}
