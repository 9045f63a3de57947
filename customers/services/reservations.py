"""Reserved credits: a two-phase transfer for a call or SMS in flight. Reserve (refused when it exceeds
usable credits), then exactly one of commit (posts the final charge, at most the amount reserved; the rest
is released), release, or expiry once its timeout has passed. A late commit after the timeout is refused.

Locks: the customer first (its reserved total moves), then the reservation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.services import audit_record

from .. import ledger
from ..locks import lock_reservation
from ..models import USAGE_KINDS, Reservation, ReservationStatus, TransactionKind
from ..money import ZERO
from ._common import amount_or_error, figures, locked_customer, money_text

MAX_TIMEOUT_SECONDS = 24 * 3600


class ReservationError(ValueError):
    """A reservation that cannot be made or resolved; the message says why."""


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@transaction.atomic
def reservation_reserve(
    *,
    customer_id: int,
    amount: Decimal,
    actor: Actor,
    at: dt.datetime,
    kind: str = TransactionKind.CALL,
    reference: str = "",
    idempotency_key: str | None = None,
    timeout_seconds: int | None = None,
) -> Reservation:
    """Hold `amount` of the customer's usable credits until commit, release or expiry."""
    if kind not in USAGE_KINDS:
        raise ReservationError("Only usage (call, SMS, fax, number activation) is reserved.")
    amount = amount_or_error(amount, ReservationError)
    timeout = settings.LEDGERDESK_RESERVATION_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise ReservationError(f"The timeout must be between 1 and {MAX_TIMEOUT_SECONDS} seconds.")
    customer = locked_customer(customer_id, ReservationError)
    if idempotency_key:
        existing = Reservation.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.customer_id, existing.amount, existing.kind) != (customer.pk, amount, kind):
                raise ReservationError(f"The idempotency key {idempotency_key!r} was already used for a "
                                       "different reservation.")
            return existing
    usable = customer.usable_credits
    if amount > usable:
        raise ReservationError(f"Not enough usable credits: {money_text(usable, customer.currency)} available, "
                               f"{money_text(amount, customer.currency)} asked.")
    before = figures(customer)
    try:
        with transaction.atomic():
            reservation = Reservation.objects.create(
                customer=customer, kind=kind, amount=amount, reference=reference[:120],
                idempotency_key=idempotency_key or None, created_at=at,
                expires_at=at + dt.timedelta(seconds=timeout))
    except IntegrityError:
        raise ReservationError(f"The idempotency key {idempotency_key!r} was already used for a different "
                               "reservation.")
    ledger.move_reserved(customer, amount)
    audit_record(actor=actor, action="customers.reservation.reserve", app="customers", obj=reservation,
                 customer_id=customer.pk, before=before,
                 after={**figures(customer), "amount": amount, "expires_at": reservation.expires_at}, at=at)
    return reservation


def _already_resolved(reservation_id: int, status: str, resolved_at: dt.datetime) -> ReservationError:
    label = ReservationStatus(status).label.lower()
    return ReservationError(f"Reservation #{reservation_id} is already {label} (at {_utc(resolved_at)}): "
                            "a reservation resolves once.")


def _lock_open(reservation_id: int) -> tuple:
    """Lock the reservation's customer, then the reservation; refuse one that is already resolved. A resolved
    reservation never reopens (the database refuses it), so one seen resolved is refused without locking."""
    row = Reservation.objects.filter(pk=reservation_id).values_list("customer_id", "status", "resolved_at").first()
    if row is None:
        raise ReservationError(f"There is no reservation #{reservation_id}.")
    customer_id, status, resolved_at = row
    if status != ReservationStatus.OPEN:
        raise _already_resolved(reservation_id, status, resolved_at)
    customer = locked_customer(customer_id, ReservationError)
    reservation = lock_reservation(reservation_id)
    if reservation.status != ReservationStatus.OPEN:
        raise _already_resolved(reservation.pk, reservation.status, reservation.resolved_at)
    return customer, reservation


def _resolve(reservation: Reservation, status: str, at: dt.datetime, **fields) -> None:
    updated = Reservation.objects.filter(pk=reservation.pk, status=ReservationStatus.OPEN).update(
        status=status, resolved_at=at, **fields)
    assert updated == 1, "the reservation is locked and open"
    reservation.refresh_from_db()


@transaction.atomic
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
    customer, reservation = _lock_open(reservation_id)
    if at >= reservation.expires_at:
        raise ReservationError(f"Reservation #{reservation.pk} expired at {_utc(reservation.expires_at)}: "
                               "a late commit is refused.")
    if final > reservation.amount:
        raise ReservationError(f"The final amount {money_text(final, customer.currency)} is more than the "
                               f"{money_text(reservation.amount, customer.currency)} reserved.")
    before = figures(customer)
    charge = None
    if final > ZERO:
        (charge,) = ledger.post(customer, [ledger.Entry(
            kind=reservation.kind, amount=-final, reference=reservation.reference, description=description,
            source_type="customers.reservation", source_id=reservation.pk)], at=at)
    _resolve(reservation, ReservationStatus.COMMITTED, at, committed_amount=final, charge=charge)
    ledger.move_reserved(customer, -reservation.amount)
    audit_record(actor=actor, action="customers.reservation.commit", app="customers", obj=reservation,
                 customer_id=customer.pk, before={**before, "status": ReservationStatus.OPEN},
                 after={**figures(customer), "status": reservation.status, "committed_amount": final,
                        "released": reservation.amount - final}, at=at)
    return reservation


@transaction.atomic
def reservation_release(
    *,
    reservation_id: int,
    actor: Actor,
    at: dt.datetime,
    reason: str = "",
) -> Reservation:
    """The call or SMS did not happen: give the reserved credits back, charge nothing."""
    customer, reservation = _lock_open(reservation_id)
    before = figures(customer)
    _resolve(reservation, ReservationStatus.RELEASED, at)
    ledger.move_reserved(customer, -reservation.amount)
    audit_record(actor=actor, action="customers.reservation.release", app="customers", obj=reservation,
                 customer_id=customer.pk, before={**before, "status": ReservationStatus.OPEN},
                 after={**figures(customer), "status": reservation.status}, reason=reason, at=at)
    return reservation


@transaction.atomic
def reservation_expire(
    *,
    reservation_id: int,
    actor: Actor,
    now: dt.datetime,
) -> Reservation:
    """Release a reservation whose timeout has passed (nobody committed or released it)."""
    customer, reservation = _lock_open(reservation_id)
    if now < reservation.expires_at:
        raise ReservationError(f"Reservation #{reservation.pk} does not expire until "
                               f"{_utc(reservation.expires_at)}.")
    before = figures(customer)
    _resolve(reservation, ReservationStatus.EXPIRED, now)
    ledger.move_reserved(customer, -reservation.amount)
    audit_record(actor=actor, action="customers.reservation.expire", app="customers", obj=reservation,
                 customer_id=customer.pk, before={**before, "status": ReservationStatus.OPEN},
                 after={**figures(customer), "status": reservation.status}, at=now)
    return reservation


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
