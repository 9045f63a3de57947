"""Banking reads: the lists' querysets (one query each, whatever the row count)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from .models import BankAccount, ImportJob, Statement


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
