"""Charges posted straight to the ledger (the telephony platform's rated calls and SMS, purchases) and the
staff's corrections. A usage charge never takes usable credits below zero; a charge with an idempotency
key posts once however often it is retried."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.services import audit_record

from .. import ledger
from ..models import CHARGE_KINDS, USAGE_KINDS, Transaction, TransactionKind
from ..money import ZERO
from ._common import amount_or_error, figures, locked_customer, money_text


class ChargeError(ValueError):
    """A charge or correction that cannot be posted; the message says why, `code` which refusal it is (for
    the API's problem types): "invalid", "no_customer", "not_enough", "key_used"."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


def _kind_or_error(kind: str) -> str:
    if kind not in CHARGE_KINDS:
        names = ", ".join(TransactionKind(k).label for k in TransactionKind if k in CHARGE_KINDS)
        raise ChargeError(f"{kind!r} is not a charge. A charge is one of: {names}.")
    return kind


def _not_enough(usable: Decimal, asked: Decimal, currency: str) -> ChargeError:
    return ChargeError(f"Not enough usable credits: {money_text(usable, currency)} available, "
                       f"{money_text(asked, currency)} asked.", "not_enough")


@transaction.atomic
def charge_post(
    *,
    customer_id: int,
    kind: str,
    amount: Decimal,
    actor: Actor,
    at: dt.datetime,
    reference: str = "",
    description: str = "",
    idempotency_key: str | None = None,
    source_type: str = "",
    source_id: int | None = None,
    occurred_at: dt.datetime | None = None,
) -> Transaction:
    """Post one charge of `amount` (> 0; the entry is -amount, DR). Usage charges (call, SMS, fax, number
    activation) are refused when they exceed usable credits; purchases are billed by their invoice. A retry
    with the same idempotency key returns the first entry and posts nothing. `occurred_at` is when the call
    or purchase happened (default `at`, the posting time); never after `at`."""
    kind = _kind_or_error(kind)
    amount = amount_or_error(amount, ChargeError)
    if occurred_at is not None and occurred_at > at:
        raise ChargeError(f"The charge is dated in the future ({occurred_at:%Y-%m-%d %H:%M}).")
    customer = locked_customer(customer_id, ChargeError)
    if idempotency_key:
        existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.customer_id, existing.kind, existing.amount) != (customer.pk, kind, -amount):
                raise ChargeError(f"The idempotency key {idempotency_key!r} was already used for a different "
                                  "charge.", "key_used")
            return existing
    if kind in USAGE_KINDS and amount > customer.usable_credits:
        raise _not_enough(customer.usable_credits, amount, customer.currency)
    before = figures(customer)
    try:
        with transaction.atomic():
            (row,) = ledger.post(customer, [ledger.Entry(
                kind=kind, amount=-amount, reference=reference, description=description, source_type=source_type,
                source_id=source_id, idempotency_key=idempotency_key or None, occurred_at=occurred_at)], at=at)
    except IntegrityError:  # the key is taken by another customer's entry posted at the same moment
        raise ChargeError(f"The idempotency key {idempotency_key!r} was already used for a different charge.",
                          "key_used")
    audit_record(actor=actor, action="customers.charge.post", app="customers", obj=row, customer_id=customer.pk,
                 before=before, after={**figures(customer), "kind": kind, "amount": row.amount,
                                       "reference": reference}, at=at)
    return row


@dataclass(frozen=True)
class ChargeLine:
    """One rated call / SMS / fax of a batch: `amount` is what it costs (> 0)."""

    kind: str
    amount: Decimal
    occurred_at: dt.datetime
    reference: str = ""
    description: str = ""


@transaction.atomic
def charge_post_batch(
    *,
    customer_id: int,
    lines: Sequence[ChargeLine],
    batch_reference: str,
    actor: Actor,
    at: dt.datetime,
) -> list[Transaction]:
    """A batch of rated usage (a CDR file) for one customer: all lines or none, one audit event. Refused when
    the usage in it exceeds usable credits. `batch_reference` is the batch's idempotency key: posting the
    same batch again returns its entries and posts nothing."""
    batch_reference = (batch_reference or "").strip()
    if not batch_reference or len(batch_reference) > 100:
        raise ChargeError("A batch needs a reference of 1 to 100 characters (it makes a re-sent batch post once).")
    if not lines:
        raise ChargeError("The batch has no lines.")
    cleaned = []
    for number, line in enumerate(lines, start=1):
        _kind_or_error(line.kind)
        amount = amount_or_error(line.amount, ChargeError, field=f"Line {number}: amount")
        if line.occurred_at > at:
            raise ChargeError(f"Line {number} is dated in the future ({line.occurred_at:%Y-%m-%d %H:%M}).")
        cleaned.append((number, line, amount))
    customer = locked_customer(customer_id, ChargeError)
    keys = [f"batch:{batch_reference}:{number}" for number, _, _ in cleaned]
    existing = list(Transaction.objects.filter(idempotency_key__in=keys).order_by("id"))
    if existing:
        if len(existing) != len(keys) or any(t.customer_id != customer.pk for t in existing):
            raise ChargeError(f"The batch reference {batch_reference!r} was already used for a different batch.",
                          "key_used")
        return existing
    usage = sum((amount for _, line, amount in cleaned if line.kind in USAGE_KINDS), ZERO)
    if usage > customer.usable_credits:
        raise _not_enough(customer.usable_credits, usage, customer.currency)
    before = figures(customer)
    entries = [ledger.Entry(kind=line.kind, amount=-amount, reference=line.reference or batch_reference,
                            description=line.description, idempotency_key=key, occurred_at=line.occurred_at)
               for (_, line, amount), key in zip(cleaned, keys, strict=True)]
    try:
        with transaction.atomic():
            rows = ledger.post(customer, entries, at=at)
    except IntegrityError:
        raise ChargeError(f"The batch reference {batch_reference!r} was already used for a different batch.",
                          "key_used")
    audit_record(actor=actor, action="customers.charge.post_batch", app="customers", object_type="customers.customer",
                 object_id=customer.pk, customer_id=customer.pk, before=before,
                 after={**figures(customer), "lines": len(rows), "total": sum((r.amount for r in rows), ZERO),
                        "batch_reference": batch_reference}, at=at)
    return rows


@transaction.atomic
def adjustment_post(
    *,
    customer_id: int,
    reason: str,
    actor: Actor,
    at: dt.datetime,
    amount: Decimal | None = None,
    reverses_id: int | None = None,
    reference: str = "",
) -> Transaction:
    """A staff correction, as a new entry (money is never edited in place).

    - With `reverses_id`: the exact opposite of that charge, in the same figure it counts in (an entry
      already billed is credited on the next invoice). An entry is reversed once.
    - Without: an adjustment of `amount` (signed: + in the customer's favour, CR; - DR) on the unbilled side,
      so it shows on the next invoice.
    Adjustments are not charges: they are not held to usable credits."""
    reason = (reason or "").strip()
    if not reason:
        raise ChargeError("Say why: a correction needs a reason.")
    customer = locked_customer(customer_id, ChargeError)
    bucket = None
    if reverses_id is not None:
        original = Transaction.objects.filter(pk=reverses_id, customer_id=customer.pk).first()
        if original is None:
            raise ChargeError(f"Transaction #{reverses_id} is not on {customer.code}'s account.")
        if original.kind not in CHARGE_KINDS:
            raise ChargeError(f"A {original.get_kind_display().lower()} entry is corrected in the app that made it "
                              "(a credit note, a payment un-assignment, a top-up removal), not by an adjustment.")
        if original.amount == ZERO:
            raise ChargeError(f"Transaction #{original.pk} is zero: there is nothing to reverse.")
        already = Transaction.objects.filter(reverses_id=original.pk).values_list("pk", flat=True).first()
        if already is not None:
            raise ChargeError(f"Transaction #{original.pk} was already reversed by #{already}.")
        if amount is not None and amount_or_error(amount, ChargeError, allow_negative=True) != -original.amount:
            raise ChargeError(f"A reversal is the exact opposite of the entry: {-original.amount}, not {amount}. "
                              "For a partial correction, post an adjustment without reversing.")
        amount = -original.amount
        bucket = original.bucket
        reference = reference or f"Reverses #{original.pk}"
    else:
        if amount is None:
            raise ChargeError("Amount is required.")
        amount = amount_or_error(amount, ChargeError, allow_negative=True)
    before = figures(customer)
    try:
        with transaction.atomic():
            (row,) = ledger.post(customer, [ledger.Entry(
                kind=TransactionKind.ADJUSTMENT, amount=amount, bucket=bucket, reference=reference,
                description=reason, reverses_id=reverses_id)], at=at)
    except IntegrityError:  # reversed at the same moment by someone else
        raise ChargeError(f"Transaction #{reverses_id} was already reversed.")
    audit_record(actor=actor, action="customers.adjustment.post", app="customers", obj=row, customer_id=customer.pk,
                 before=before, after={**figures(customer), "amount": row.amount, "reverses": reverses_id},
                 reason=reason, at=at)
    return row
