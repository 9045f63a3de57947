"""Reconciling statement lines: suggestions stored at import, then confirmed (a payment recorded, assigned and
allocated through finance's own rules, or linked to the payment already recorded, or a withdrawal cleared),
ignored with a reason, or undone (the allocations and the payment go back through finance's rules and the line
returns to the inbox). Each confirmation, ignore and undo is one transaction and one audit event; the event's
object is the payment when there is one, so the payment's own history shows it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.models import AuditApp
from audit.services import audit_record
from common.bulk import instances
from customers.locks import lock_customer
from customers.models import Customer
from finance.locks import lock_payment
from finance.models import Allocation, PaymentMethod
from finance.services._common import FinanceError
from finance.services.allocation import allocate_locked, reverse_locked
from finance.services.payments import delete_locked, record_locked
from invoices.locks import lock_invoices

from ..locks import lock_statement_line
from ..matching import HIGH, Matcher, amounts, for_customer
from ..models import LineState, StatementLine, Suggestion, SuggestionKind
from ._common import BankingError

AUDIT_EXEMPT = {
    "score_lines": "reads only: the suggestions of lines, not saved",
    "suggest_lines": "stores the suggestions of lines as they are imported or return to the inbox, inside the "
                     "import's or the undo's transaction, which records the one audit event",
}


class ReconcileError(BankingError):
    """A reconciliation refused; nothing changed."""


def score_lines(lines: list[StatementLine]) -> list[Suggestion]:
    """The suggestions of `lines` (each with its pk, saved or not), unsaved and ranked; each line's `state` and
    `best_score` set on the instance to what they become (suggested with its best score, or new and 0). Reads a
    fixed number of queries per currency (banking.matching.Matcher), writes nothing."""
    rows: list[Suggestion] = []
    by_currency: dict[str, list[StatementLine]] = {}
    for line in lines:
        by_currency.setdefault(line.currency, []).append(line)
    for batch in by_currency.values():
        matcher = Matcher(batch)
        for line in batch:
            found = matcher.suggest(line)
            rows += instances(Suggestion, (
                {"line_id": line.pk, "rank": rank, "score": max(0, min(c.score, 100)), "kind": c.kind,
                 "customer_id": c.customer.pk if c.customer else None, "payment_id": c.payment.pk if c.payment else None,
                 "withdrawal_id": c.withdrawal.pk if c.withdrawal else None, "allocations": c.allocations,
                 "reasons": c.reasons} for rank, c in enumerate(found, start=1)))
            best = max((c.score for c in found), default=0)
            line.state = LineState.SUGGESTED if found else LineState.NEW
            line.best_score = max(0, min(best, 100))
    return rows


def suggest_lines(lines: list[StatementLine]) -> None:
    """Replace the suggestions of `lines` (not reconciled, not ignored) and set their state and best score. Lines
    just imported are scored before they are written instead (score_lines, banking.services.imports)."""
    lines = [line for line in lines if line.state in (LineState.NEW, LineState.SUGGESTED)]
    if not lines:
        return
    Suggestion.objects.filter(line__in=[line.pk for line in lines]).delete()
    rows = score_lines(lines)
    Suggestion.objects.bulk_create(rows, batch_size=2000)
    by_outcome: dict[tuple[str, int], list[int]] = {}
    for line in lines:
        by_outcome.setdefault((line.state, line.best_score), []).append(line.pk)
    for (state, score), ids in by_outcome.items():
        for start in range(0, len(ids), 5000):
            StatementLine.objects.filter(pk__in=ids[start:start + 5000]).update(state=state, best_score=score)


def _method(line: StatementLine) -> str:
    """The payment method the bank's transaction code says (MT940 NCHK / camt CHK or CCHQ: a cheque)."""
    code = (line.bank_code or "").upper()
    if "CHK" in code or "CHQ" in code:
        return PaymentMethod.CHEQUE
    return PaymentMethod.BANK_TRANSFER


def _line_state(line: StatementLine) -> dict:
    return {"state": line.state, "payment": line.payment_id, "withdrawal": line.withdrawal_id}


@transaction.atomic
def statement_line_confirm(*, line_id: int, suggestion_id: int, actor: Actor, at: dt.datetime,
                           allocations: list[tuple[int, Decimal]] | None = None) -> StatementLine:
    """Confirm one of a line's suggestions. `allocations` (invoice id, amount) replaces the suggestion's own
    (the allocation edited before confirming); an empty list records the payment without allocating it."""
    line = lock_statement_line(line_id)
    if line.state == LineState.RECONCILED:
        raise ReconcileError(f"Line #{line.pk} was reconciled already by {line.reconciled_by} "
                             f"({line.reconciled_at:%Y-%m-%d %H:%M}).")
    if line.state == LineState.IGNORED:
        raise ReconcileError(f"Line #{line.pk} is ignored; undo that first.")
    suggestion = Suggestion.objects.select_related("customer", "payment", "withdrawal").filter(
        pk=suggestion_id, line=line).first()
    if suggestion is None:
        raise ReconcileError("This suggestion is no longer offered; reload the page.")
    before = _line_state(line)
    payment, created, event_after, match = None, False, {}, {}
    try:
        if suggestion.kind == SuggestionKind.LINK_PAYMENT:
            payment = lock_payment(suggestion.payment_id)
            if payment.deleted_at is not None or payment.amount != line.amount or payment.currency != line.currency:
                raise ReconcileError(f"Payment #{payment.pk} changed since the suggestion; reload the page.")
            match = {"payment": payment}
        elif suggestion.kind == SuggestionKind.CLEAR_WITHDRAWAL:
            withdrawal = suggestion.withdrawal
            if withdrawal.amount != -line.amount or withdrawal.currency != line.currency:
                raise ReconcileError(f"Withdrawal #{withdrawal.pk} does not match this line; reload the page.")
            match = {"withdrawal": withdrawal}
            event_after["withdrawal"] = withdrawal.pk
        else:
            if line.amount <= 0:
                raise ReconcileError("Money paid out is not a payment received.")
            # The customer first (finance's order); the payment record_locked creates is invisible to every other
            # transaction until commit, so allocate_locked locking the invoices after it closes no cycle.
            customer = lock_customer(suggestion.customer_id)
            lines = amounts(suggestion.allocations) if allocations is None else allocations
            numbers = [a["number"] for a in suggestion.allocations]
            payment, _ = record_locked(
                customer=customer, amount=line.amount, received_date=line.booking_date, method=_method(line),
                currency=line.currency, reference=(line.reference or line.bank_reference)[:120],
                invoice_number=numbers[0] if numbers and allocations is None else "",
                remark=f"Bank statement line #{line.pk} ({line.account.code}, {line.booking_date:%Y-%m-%d}): "
                       f"{line.payer_name} {line.remittance_text}".strip()[:500], at=at)
            if lines:
                payment, _, invoices, made, _ = allocate_locked(payment=payment, lines=lines, actor=actor, at=at)
                event_after["allocations"] = [{"id": a.pk, "invoice": invoices[a.invoice_id].number,
                                               "amount": a.amount} for a in made]
            created = True
            match = {"payment": payment, "payment_created": True}
    except FinanceError as exc:
        raise ReconcileError(str(exc))
    try:
        with transaction.atomic():
            StatementLine.objects.filter(pk=line.pk).update(**match, state=LineState.RECONCILED, reconciled_at=at,
                                                            reconciled_by=actor.label[:150])
    except IntegrityError:  # the payment or withdrawal is another line's (one line each, a unique constraint)
        raise ReconcileError("That payment or withdrawal is matched to another line already; reload the page.")
    line.refresh_from_db()
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.line.confirm",
                 obj=payment if payment is not None else line,
                 customer_id=payment.customer_id if payment is not None else suggestion.customer_id, at=at,
                 before=before, after={**_line_state(line), "line": line.pk, "kind": suggestion.kind,
                                       "score": suggestion.score, "reasons": suggestion.reasons,
                                       "payment_created": created, "amount": line.amount, **event_after})
    return line


@transaction.atomic
def statement_line_ignore(*, line_id: int, reason: str, actor: Actor, at: dt.datetime) -> StatementLine:
    """Leave a line out of the reconciliation (a bank charge, an internal transfer), with the reason."""
    reason = " ".join((reason or "").split())[:255]
    if not reason:
        raise ReconcileError("Say why the line is ignored.")
    line = lock_statement_line(line_id)
    if line.state not in (LineState.NEW, LineState.SUGGESTED):
        raise ReconcileError(f"Line #{line.pk} is {line.get_state_display().lower()}; only a line in the inbox "
                             "can be ignored.")
    before = _line_state(line)
    StatementLine.objects.filter(pk=line.pk).update(state=LineState.IGNORED, ignored_reason=reason,
                                                    reconciled_at=at, reconciled_by=actor.label[:150])
    line.refresh_from_db()
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.line.ignore", obj=line, at=at, before=before,
                 after=_line_state(line), reason=reason)
    return line


@transaction.atomic
def statement_line_undo(*, line_id: int, reason: str, actor: Actor, at: dt.datetime) -> StatementLine:
    """Put a reconciled or ignored line back in the inbox. A payment recorded from the line has its
    allocations undone and is deleted, through finance's rules (refused, with the reason, when they refuse:
    a top-up whose credits are spent, say); a linked payment or a cleared withdrawal is only unlinked."""
    reason = " ".join((reason or "").split())[:255]
    line = lock_statement_line(line_id)
    if line.state not in (LineState.RECONCILED, LineState.IGNORED):
        raise ReconcileError(f"Line #{line.pk} is in the inbox; there is nothing to undo.")
    before = _line_state(line)
    payment = None
    after: dict = {}
    try:
        if line.payment_id and line.payment_created:
            # finance's lock order, taken whole before the first reversal: the customer, then the invoices of the
            # payment's allocations by pk, then the payment (reversing one allocation after another locked the
            # second invoice after the payment). Each reverse_locked then finds its rows locked already.
            customer_id = line.payment.customer_id
            customer = lock_customer(customer_id) if customer_id else None
            live = list(Allocation.objects.filter(payment_id=line.payment_id, reversed_at__isnull=True).order_by("pk"))
            lock_invoices({a.invoice_id for a in live})
            lock_payment(line.payment_id)
            undone = []
            for allocation in live:
                allocation, _, _, invoice, _, _ = reverse_locked(allocation=allocation, actor=actor,
                                                                 reason=reason or f"Undo of bank line #{line.pk}",
                                                                 at=at)
                undone.append({"id": allocation.pk, "invoice": invoice.number, "amount": allocation.amount})
            payment = lock_payment(line.payment_id)  # refreshed after the reversals
            delete_locked(customer, payment, at=at)
            after.update({"allocations_undone": undone, "payment_deleted": payment.pk})
        elif line.payment_id:
            payment = line.payment
    except FinanceError as exc:
        raise ReconcileError(str(exc))
    StatementLine.objects.filter(pk=line.pk).update(state=LineState.NEW, payment=None, payment_created=False,
                                                    withdrawal=None, reconciled_at=None, reconciled_by="",
                                                    ignored_reason="")
    line.refresh_from_db()
    suggest_lines([line])
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.line.undo",
                 obj=payment if payment is not None else line,
                 customer_id=payment.customer_id if payment is not None else None, at=at, before=before,
                 after={**_line_state(line), "line": line.pk, **after}, reason=reason)
    return line


@transaction.atomic
def statement_line_suggest(*, line_id: int, actor: Actor, at: dt.datetime) -> StatementLine:
    """Make a line's suggestions anew (a payment recorded since the import is then offered to link to)."""
    line = lock_statement_line(line_id)
    if line.state not in (LineState.NEW, LineState.SUGGESTED):
        raise ReconcileError(f"Line #{line.pk} is {line.get_state_display().lower()}; only a line in the inbox "
                             "gets suggestions.")
    before = {"state": line.state, "best_score": line.best_score}
    suggest_lines([line])
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.line.suggest", obj=line, at=at, before=before,
                 after={"state": line.state, "best_score": line.best_score,
                        "suggestions": line.suggestions.count()})
    return line


@transaction.atomic
def statement_line_choose_customer(*, line_id: int, customer_id: int, actor: Actor, at: dt.datetime) -> Suggestion:
    """Staff name the customer a line of money in came from (the line had no suggestion, or not the right one):
    a suggestion for that customer is added to the line (allocated to its one open invoice of exactly the line's
    amount, else recorded for the customer), to confirm through statement_line_confirm, with the allocation
    edited first if need be. Choosing the same customer again gives the suggestion already there."""
    line = lock_statement_line(line_id)
    if line.state not in (LineState.NEW, LineState.SUGGESTED):
        raise ReconcileError(f"Line #{line.pk} is {line.get_state_display().lower()}; only a line in the inbox "
                             "can be given a customer.")
    if line.amount <= 0:
        raise ReconcileError("Money paid out is not a payment received: clear a withdrawal or ignore the line.")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise ReconcileError("There is no such customer.")
    if customer.currency != line.currency:
        raise ReconcileError(f"{customer.name} ({customer.code}) is billed in {customer.currency}; the line is in "
                             f"{line.currency}.")
    same = Suggestion.objects.filter(line=line, customer=customer,
                                     kind__in=[SuggestionKind.ALLOCATE, SuggestionKind.ASSIGN]).order_by("rank").first()
    if same is not None:
        return same
    candidate = for_customer(line, customer, f"{customer.name} ({customer.code}) chosen by {actor.label}")
    rank = (line.suggestions.order_by("-rank").values_list("rank", flat=True).first() or 0) + 1
    before = {"state": line.state, "best_score": line.best_score}
    suggestion = Suggestion.objects.create(line=line, rank=rank, score=candidate.score, kind=candidate.kind,
                                           customer=customer, allocations=candidate.allocations,
                                           reasons=candidate.reasons)
    StatementLine.objects.filter(pk=line.pk).update(state=LineState.SUGGESTED,
                                                    best_score=max(line.best_score, candidate.score))
    line.refresh_from_db()
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.line.choose_customer", obj=line,
                 customer_id=customer.pk, at=at, before=before,
                 after={"state": line.state, "best_score": line.best_score, "suggestion": suggestion.pk,
                        "customer": customer.code, "kind": suggestion.kind, "score": suggestion.score,
                        "allocations": suggestion.allocations})
    return suggestion


def statement_lines_confirm_high(*, line_ids: list[int], actor: Actor, at: dt.datetime) -> tuple[int, list[str]]:
    """Confirm the best suggestion of each line that has a high-confidence one (score >= HIGH), each line in its
    own transaction with its own audit event (one refused does not stop the others). Returns how many were
    confirmed and the refusals, each naming its line."""
    best = {s.line_id: s for s in Suggestion.objects.filter(line_id__in=line_ids, rank=1, score__gte=HIGH,
                                                            line__state=LineState.SUGGESTED)}
    confirmed, refused = 0, []
    for line_id in sorted(best):
        try:
            statement_line_confirm(line_id=line_id, suggestion_id=best[line_id].pk, actor=actor, at=at)
        except ReconcileError as exc:
            refused.append(f"Line #{line_id}: {exc}")
        else:
            confirmed += 1
    return confirmed, refused
