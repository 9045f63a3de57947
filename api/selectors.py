"""Reads for the API and the staff page: a customer by code, a reservation, a customer's transactions a page
at a time (keyset), the API keys list."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from django.db import connection
from django.db.models import Q, QuerySet

from customers.models import Customer, Reservation, Transaction
from customers.selectors import transactions_for

from .models import ApiKey

MAX_ID = 2**63 - 1


class CursorError(ValueError):
    """A cursor this API did not make."""


_KEY_FIELDS = ["id", "name", "scopes", "last_used_at"]
_ACTIVE_KEY_SQL = (f"SELECT {', '.join(_KEY_FIELDS)} FROM {ApiKey._meta.db_table} "  # noqa: S608 - constants
                   "WHERE key_hash = %s AND revoked_at IS NULL")


def active_key(key_hash: str) -> ApiKey | None:
    """The key not revoked with this hash (the fields authentication uses; the others deferred). Every API
    request runs it: written in SQL, because the ORM's building of the same query was 0.3-0.45 ms of CPU per
    request against 0.1 for this (measured in process, bench/README.md), on a 2-core machine where the API's
    throughput is its CPU per request."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_KEY_SQL, [key_hash])
        row = cursor.fetchone()
    return None if row is None else ApiKey.from_db(connection.alias, _KEY_FIELDS, list(row))


def customer_by_code(code: str) -> Customer | None:
    if not code or len(code) > 32:
        return None
    return Customer.objects.filter(code=code).first()


def reservation_get(reservation_id: int) -> Reservation | None:
    return Reservation.objects.select_related("customer").filter(pk=reservation_id).first()


def encode_cursor(row: Transaction) -> str:
    raw = f"{row.occurred_at.isoformat()}|{row.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, pk = raw.split("|")
        occurred_at, pk = dt.datetime.fromisoformat(when), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("This cursor is not one the API gave (pass next_cursor from the previous page as it is).")
    if occurred_at.tzinfo is None or not 0 < pk <= MAX_ID:
        raise CursorError("This cursor is not one the API gave (pass next_cursor from the previous page as it is).")
    return occurred_at, pk


def transactions_page(customer: Customer, *, kind: str = "", since: dt.datetime | None = None, cursor: str = "",
                      limit: int = 100) -> tuple[list[Transaction], str | None]:
    """Newest first (occurred_at, then id), `limit` rows after the cursor, and the cursor of the next page.
    Keyset pagination over txn_customer_time_idx: each page is one index range scan, however deep."""
    qs: QuerySet = transactions_for(customer, kind=kind)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if cursor:
        occurred_at, pk = decode_cursor(cursor)
        qs = qs.filter(Q(occurred_at__lt=occurred_at) | Q(occurred_at=occurred_at, id__lt=pk))
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def api_key_list() -> QuerySet:
    """The API keys, newest first (api.filters.ApiKeyFilterSet filters them)."""
    return ApiKey.objects.order_by("-created_at", "-id")
