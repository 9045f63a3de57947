"""Reserved credits: a two-phase transfer for a call or SMS in flight. Reserve (refused when it exceeds
usable credits), then exactly one of commit (posts the final charge, at most the amount reserved; the rest
is released), release, or expiry once its timeout has passed. A late commit after the timeout is refused.

The hot path of the telephony platform: each operation is ONE statement, a PL/pgSQL function
(customers/sql/reservations.sql) that locks the customer, then the reservation, checks the rule, writes the reservation, the
charge, the running totals and the one audit event, and returns an outcome code mapped here to the
ReservationError message. A reservation made or resolved comes back with its customer loaded from the same
statement (`reservation.customer`: code, currency and the usable credits after the operation; its other
fields deferred), so the API's reply reads nothing again (bench/api_posting.py). Outside a transaction the
statement commits on its own (autocommit); inside the caller's atomic block it is part of that transaction.

Locks: the customer first (its reserved total moves), then the reservation (the audit event takes none)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import connection

from audit.actors import Actor
from audit.services import audit_actor_columns

from ..models import USAGE_KINDS, Customer, Reservation, ReservationStatus, TransactionKind
from ._common import amount_or_error, money_text

MAX_TIMEOUT_SECONDS = 24 * 3600

# The customer's code joined in the same statement (as the statement began: the functions never change it), for
# the customer the returned reservation carries (see _call).
_RESERVE_SQL = (
    "SELECT o.outcome, o.currency, o.usable, c.code, (o.reservation).* FROM customers_reservation_reserve("
    "COALESCE(%s, (SELECT id FROM customers_customer WHERE code = %s)), "
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s) o "
    "LEFT JOIN customers_customer c ON c.id = (o.reservation).customer_id"
)
_RESOLVE_SQL = (
    "SELECT o.outcome, o.currency, o.usable, c.code, (o.reservation).* FROM customers_reservation_resolve("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s) o "
    "LEFT JOIN customers_customer c ON c.id = (o.reservation).customer_id"
)
_FIELDS = [f.attname for f in Reservation._meta.concrete_fields]
_CUSTOMER_FIELDS = ["id", "code", "currency", "usable_credits"]


class ReservationError(ValueError):
    """A reservation that cannot be made or resolved; the message says why, `code` which refusal it is
    (for the API's problem types): "invalid", "no_customer", "not_enough", "key_used", "missing",
    "resolved", "expired", "over", "not_due"."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _call(sql: str, params: list) -> tuple[str, str | None, Decimal | None, Reservation | None]:
    """Run one reservation function; (outcome, the customer's currency, usable credits, the reservation). When
    the function locked the customer and returned its usable credits (a reservation made, resolved, or found
    again by its key), the reservation's customer is loaded with them (from_db, the other fields deferred)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        names = [column.name for column in cursor.description]
    outcome, currency, usable, code = row[:4]
    values = dict(zip(names[4:], row[4:], strict=True))
    reservation = None
    if values["id"] is not None:
        reservation = Reservation.from_db(connection.alias, _FIELDS, [values[name] for name in _FIELDS])
        if usable is not None and code is not None:
            reservation.customer = Customer.from_db(connection.alias, _CUSTOMER_FIELDS,
                                                    [reservation.customer_id, code, currency, usable])
    return outcome, currency, usable, reservation


def reservation_reserve(
    *,
    customer_id: int | None = None,
    customer_code: str | None = None,
    amount: Decimal,
    actor: Actor,
    at: dt.datetime,
    kind: str = TransactionKind.CALL,
    reference: str = "",
    idempotency_key: str | None = None,
    timeout_seconds: int | None = None,
) -> Reservation:
    """Hold `amount` of the customer's usable credits until commit, release or expiry. The customer is given by
    its id or by its code (the API's address: found in the same statement, no read before it)."""
    if (customer_id is None) == (customer_code is None):
        raise ReservationError("Give the customer's id or its code.")
    if kind not in USAGE_KINDS:
        raise ReservationError("Only usage (call, SMS, fax, number activation) is reserved.")
    amount = amount_or_error(amount, ReservationError)
    timeout = settings.LEDGERDESK_RESERVATION_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise ReservationError(f"The timeout must be between 1 and {MAX_TIMEOUT_SECONDS} seconds.")
    actor_columns = audit_actor_columns(actor, at)
    outcome, currency, usable, reservation = _call(_RESERVE_SQL, [
        customer_id, customer_code, str(kind), amount, reference[:120], idempotency_key or None, at,
        at + dt.timedelta(seconds=timeout), *actor_columns])
    if outcome == "no_customer":
        raise ReservationError(f"There is no customer #{customer_id}." if customer_code is None else
                               f"There is no customer with the code {customer_code!r}.", "no_customer")
    if outcome == "key_used":
        raise ReservationError(f"The idempotency key {idempotency_key!r} was already used for a different "
                               "reservation.", "key_used")
    if outcome == "not_enough":
        raise ReservationError(f"Not enough usable credits: {money_text(usable, currency)} available, "
                               f"{money_text(amount, currency)} asked.", "not_enough")
    assert outcome in ("ok", "existing") and reservation is not None, outcome
    return reservation


def _already_resolved(reservation: Reservation) -> ReservationError:
    label = ReservationStatus(reservation.status).label.lower()
    return ReservationError(f"Reservation #{reservation.pk} is already {label} (at {_utc(reservation.resolved_at)}): "
                            "a reservation resolves once.", "resolved")


def _resolve(reservation_id: int, status: str, *, actor: Actor, at: dt.datetime, final: Decimal | None = None,
             description: str = "", reason: str = "") -> Reservation:
    """Commit, release or expire in one statement; the refusals as ReservationError."""
    actor_columns = audit_actor_columns(actor, at)
    outcome, currency, _, reservation = _call(_RESOLVE_SQL, [
        reservation_id, str(status), final, description[:255], reason.replace("\x00", ""), at, *actor_columns])
    if outcome == "missing":
        raise ReservationError(f"There is no reservation #{reservation_id}.", "missing")
    if outcome == "resolved":
        raise _already_resolved(reservation)
    if outcome == "expired":
        raise ReservationError(f"Reservation #{reservation.pk} expired at {_utc(reservation.expires_at)}: "
                               "a late commit is refused.", "expired")
    if outcome == "over":
        raise ReservationError(f"The final amount {money_text(final, currency)} is more than the "
                               f"{money_text(reservation.amount, currency)} reserved.", "over")
    if outcome == "not_due":
        raise ReservationError(f"Reservation #{reservation.pk} does not expire until "
                               f"{_utc(reservation.expires_at)}.", "not_due")
    assert outcome == "ok" and reservation is not None, outcome
    return reservation


def reservation_commit(
    *,
    reservation_id: int,
    amount: Decimal,
    actor: Actor,
    at: dt.datetime,
    description: str = "",
) -> Reservation:
    """The call or SMS happened and cost `amount` (0 <= amount <= reserved): post that charge and release
    the rest. Refused once the reservation has expired, even if the expiry job has not run yet."""
    final = amount_or_error(amount, ReservationError, field="Final amount", allow_zero=True)
    return _resolve(reservation_id, ReservationStatus.COMMITTED, actor=actor, at=at, final=final,
                    description=description)


def reservation_release(
    *,
    reservation_id: int,
    actor: Actor,
    at: dt.datetime,
    reason: str = "",
) -> Reservation:
    """The call or SMS did not happen: give the reserved credits back, charge nothing."""
    return _resolve(reservation_id, ReservationStatus.RELEASED, actor=actor, at=at, reason=reason)


def reservation_expire(
    *,
    reservation_id: int,
    actor: Actor,
    now: dt.datetime,
) -> Reservation:
    """Release a reservation whose timeout has passed (nobody committed or released it)."""
    return _resolve(reservation_id, ReservationStatus.EXPIRED, actor=actor, at=now)


def expire_due_reservations(*, now: dt.datetime, actor: Actor, limit: int | None = None) -> int:
    """The beat job: expire every open reservation past its timeout, each in its own transaction (one
    customer's lock at a time). One resolved meanwhile by a commit or release is skipped. Returns how many
    it expired."""
    due = Reservation.objects.filter(status=ReservationStatus.OPEN, expires_at__lte=now).order_by("expires_at", "id")
    ids = list(due.values_list("id", flat=True)[:limit] if limit else due.values_list("id", flat=True))
    expired = 0
    for reservation_id in ids:
        try:
            reservation_expire(reservation_id=reservation_id, actor=actor, now=now)
        except ReservationError:
            continue
        expired += 1
    return expired
