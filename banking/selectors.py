"""Banking reads: the lists' querysets (one query each, whatever the row count)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from finance.models import Payment
from finance.selectors import AllocationPreview, allocation_preview, open_invoices

from .matching import HIGH
from .models import BankAccount, ImportJob, LineState, Statement, StatementLine, Suggestion


def bank_accounts(*, q: str = "", currency: str = "") -> QuerySet[BankAccount]:
    rows = BankAccount.objects.all()
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(code__icontains=q) | Q(iban__icontains=q.replace(" ", "")))
    if currency:
        rows = rows.filter(currency=currency)
    return rows.order_by("name", "id")


def statements(*, q: str = "", account_id: int | None = None, file_format: str = "",
               imported_from: dt.date | None = None, imported_to: dt.date | None = None) -> QuerySet[Statement]:
    rows = Statement.objects.select_related("account")
    if q:
        rows = rows.filter(Q(file_name__icontains=q) | Q(statement_ref__icontains=q))
    if account_id:
        rows = rows.filter(account_id=account_id)
    if file_format:
        rows = rows.filter(format=file_format)
    if imported_from:
        rows = rows.filter(imported_at__date__gte=imported_from)
    if imported_to:
        rows = rows.filter(imported_at__date__lte=imported_to)
    return rows.order_by("-imported_at", "-id")


def statement_lines(statement: Statement):
    return statement.lines.order_by("position")


def import_job(job_id: int) -> ImportJob | None:
    return ImportJob.objects.select_related("account", "statement").defer("content").filter(pk=job_id).first()


def _top_suggestion() -> Prefetch:
    return Prefetch("suggestions", to_attr="top",
                    queryset=Suggestion.objects.filter(rank=1).select_related("customer", "payment", "withdrawal"))


def statement_lines_inbox(*, q: str = "", state: str = "inbox", account_id: int | None = None, direction: str = "",
                          confidence: str = "", booked_from: dt.date | None = None,
                          booked_to: dt.date | None = None) -> QuerySet[StatementLine]:
    """The reconcile inbox: lines by state (the lines still to reconcile by default), best suggestions first.
    Each row's best suggestion comes with it (one query for the page's rows, whatever their number)."""
    rows = StatementLine.objects.select_related("account", "payment", "withdrawal").prefetch_related(_top_suggestion())
    if state == "inbox":
        rows = rows.filter(state__in=[LineState.NEW, LineState.SUGGESTED])
    elif state in LineState.values:
        rows = rows.filter(state=state)
    if q:
        rows = rows.filter(Q(payer_name__icontains=q) | Q(reference__icontains=q) | Q(bank_reference__icontains=q)
                           | Q(remittance_text__icontains=q))
    if account_id:
        rows = rows.filter(account_id=account_id)
    if direction == "in":
        rows = rows.filter(amount__gt=0)
    elif direction == "out":
        rows = rows.filter(amount__lt=0)
    if confidence == "high":
        rows = rows.filter(best_score__gte=HIGH)
    elif confidence == "none":
        rows = rows.filter(best_score=0)
    if booked_from:
        rows = rows.filter(booking_date__gte=booked_from)
    if booked_to:
        rows = rows.filter(booking_date__lte=booked_to)
    return rows.order_by("-best_score", "-booking_date", "-id")


def statement_line(line_id: int) -> StatementLine | None:
    return (StatementLine.objects.select_related("account", "statement", "payment__customer", "withdrawal__customer")
            .filter(pk=line_id).first())


def line_suggestions(line: StatementLine) -> list[Suggestion]:
    return list(line.suggestions.select_related("customer", "payment", "withdrawal").order_by("rank"))


def allocation_choices(suggestion: Suggestion) -> list[dict]:
    """The open invoices of the suggestion's customer, each with the amount the suggestion allocates to it (0 for
    the others), for the allocation edited before confirming."""
    if suggestion.customer_id is None:
        return []
    suggested = {int(a["invoice"]): Decimal(a["amount"]) for a in suggestion.allocations}
    invoices = open_invoices(customer_id=suggestion.customer_id, limit=100)
    return [{"invoice": i, "amount": suggested.get(i.pk, Decimal(0))} for i in invoices]


def line_allocation_preview(line: StatementLine, lines: list[tuple[object, object]]) -> AllocationPreview:
    """finance's allocation preview of the payment the line would record (not saved, nothing locked)."""
    return allocation_preview(Payment(amount=line.amount, currency=line.currency, received_date=line.booking_date),
                              lines)
