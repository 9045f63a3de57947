"""Row locks for banking rows, taken only through these helpers (FOR NO KEY UPDATE, as every app's locks.py).

An import locks its bank account first: imports into one account run one after the other, so each sees the
lines the previous one stored (the unique identity constraint stands behind it regardless)."""

from __future__ import annotations

from django.db import transaction

from .models import BankAccount, ImportJob


def _in_transaction() -> None:
    assert transaction.get_connection().in_atomic_block, "lock inside a transaction"


def lock_bank_account(account_id: int) -> BankAccount:
    _in_transaction()
    return BankAccount.objects.select_for_update(of=("self",), no_key=True).get(pk=account_id)


def lock_import_job(job_id: int) -> ImportJob:
    _in_transaction()
    return ImportJob.objects.select_for_update(of=("self",), no_key=True).defer("content").get(pk=job_id)


def lock_statement_line(line_id: int):
    """The line first: a reconciliation locks its line, then the finance rows in finance's order (customer ->
    invoices -> payment). No finance service locks a line, so this cannot close a cycle; two staff confirming
    one line queue here, and the second finds it reconciled."""
    from .models import StatementLine

    _in_transaction()
    return StatementLine.objects.select_for_update(of=("self",), no_key=True).select_related("account").get(pk=line_id)
