"""Bank accounts: registered and edited by finance staff, each change one audit event."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.models import AuditApp
from audit.services import audit_record
from customers.currencies import CurrencyError, clean_currency

from ..locks import lock_bank_account
from ..models import BankAccount
from ._common import BankingError

FIELDS = ("name", "code", "iban", "bic", "currency", "csv_delimiter", "csv_date_column", "csv_date_format",
          "csv_value_date_column", "csv_amount_column", "csv_debit_column", "csv_credit_column",
          "csv_decimal_comma", "csv_reference_column", "csv_payer_column", "csv_payer_account_column",
          "csv_remittance_column")


def _clean(values: dict) -> dict:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise BankingError(f"Unknown bank account fields: {', '.join(sorted(unknown))}.")
    cleaned = dict(values)
    for name in FIELDS:
        if name in cleaned and isinstance(cleaned[name], str) and name != "csv_delimiter":
            cleaned[name] = cleaned[name].strip()
    if "currency" in cleaned:
        try:
            cleaned["currency"] = clean_currency(cleaned["currency"])
        except CurrencyError as exc:
            raise BankingError(str(exc))
    if "name" in cleaned and not cleaned["name"]:
        raise BankingError("A bank account needs a name.")
    if "code" in cleaned and not cleaned["code"]:
        raise BankingError("A bank account needs a code.")
    if "iban" in cleaned and not cleaned["iban"]:
        raise BankingError("A bank account needs its IBAN or account number.")
    if cleaned.get("csv_amount_column") and (cleaned.get("csv_debit_column") or cleaned.get("csv_credit_column")):
        raise BankingError("Map either one amount column or the debit and credit columns, not both.")
    if bool(cleaned.get("csv_debit_column")) != bool(cleaned.get("csv_credit_column")):
        raise BankingError("Map both the debit and the credit columns (or one signed amount column).")
    if cleaned.get("csv_date_format"):
        try:
            dt.date(2026, 12, 31).strftime(cleaned["csv_date_format"])
            if "%" not in cleaned["csv_date_format"]:
                raise ValueError
        except ValueError:
            raise BankingError("The date format must be written as Python's strptime reads it, such as %d/%m/%Y.")
    return cleaned


@transaction.atomic
def bank_account_create(*, actor: Actor, at: dt.datetime, **values) -> BankAccount:
    values = _clean(values)
    account = BankAccount(created_at=at, updated_at=at, **values)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise BankingError(f"A bank account with the code {values.get('code')!r} exists already.")
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.account.create", obj=account, at=at,
                 after={name: getattr(account, name) for name in FIELDS})
    return account


@transaction.atomic
def bank_account_update(*, account_id: int, actor: Actor, at: dt.datetime, **values) -> BankAccount:
    account = lock_bank_account(account_id)
    values = _clean({**{name: getattr(account, name) for name in FIELDS}, **values})
    changed = {name: value for name, value in values.items() if getattr(account, name) != value}
    if "currency" in changed and account.statements.exists():
        raise BankingError("The currency of an account with imported statements cannot change.")
    if not changed:
        return account
    before = {name: getattr(account, name) for name in changed}
    for name, value in changed.items():
        setattr(account, name, value)
    account.updated_at = at
    try:
        with transaction.atomic():
            account.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        raise BankingError(f"A bank account with the code {values.get('code')!r} exists already.")
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.account.update", obj=account, at=at,
                 before=before, after=changed)
    return account
