"""Importing a statement file: parsed whole first (a file that cannot be read is refused whole, with the line
and the reason, and nothing of it is stored), then stored in one transaction with one audit event. Lines
already imported (same identity in the same account) are counted, not stored again."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from audit.actors import Actor
from audit.models import AuditApp
from audit.services import audit_record
from common.bulk import copy_rows, instances, reserve_ids
from customers.money import quantize

from ..locks import lock_bank_account, lock_import_job
from ..matching import text_array
from ..models import BankAccount, ImportJob, ImportJobState, RefusedFile, Statement, StatementLine, Suggestion
from ..parsers import ParsedStatement, StatementFormatError, parse_statement
from ._common import BankingError
from .reconcile import score_lines

AUDIT_EXEMPT = {
    "check_size": "pure check: refuses a file too large before it is read; writes nothing",
    "file_sha256": "pure function: a file's fingerprint",
    "path_sha256": "pure function: a file's fingerprint, read from disk in chunks",
    "identities": "pure function: the identities of a parsed statement's lines",
    "max_bytes": "reads a setting",
    "parse_file": "reads and checks a file against its account; writes nothing",
    "import_job_queue": "keeps an uploaded file for the worker; the import itself (import_job_run -> "
                        "statement_import) writes the audit event when it runs",
}

# Lines written this many at a time (one COPY per chunk, whatever the file's size; progress after each).
CHUNK = 2000

Progress = Callable[[int, int], None]


class StatementImportError(BankingError):
    """A file refused whole. `line` is the line of the file, when the problem is on one."""

    def __init__(self, reason: str, line: int | None = None):
        self.reason, self.line = reason, line
        super().__init__(f"Line {line}: {reason}" if line else reason)


def max_bytes() -> int:
    return int(settings.LEDGERDESK_BANK_STATEMENT_MAX_BYTES)


def check_size(size: int) -> None:
    if size > max_bytes():
        raise StatementImportError(f"the file is {size / 1_048_576:.1f} MB; statements of at most "
                                   f"{max_bytes() / 1_048_576:.0f} MB are accepted (ask the bank for a shorter "
                                   "period).")


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def path_sha256(path) -> str:
    """file_sha256 of a file on disk, read in chunks (a file too large to import is still fingerprinted)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _normal_account(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def _check_account(parsed: ParsedStatement, account: BankAccount) -> None:
    named, ours = _normal_account(parsed.account), _normal_account(account.iban)
    if named and ours and named != ours and not (len(ours) >= 6 and named.endswith(ours)) \
            and not (len(named) >= 6 and ours.endswith(named)):
        raise StatementImportError(f"the statement is for the account {parsed.account}, not for {account.name} "
                                   f"({account.iban}).")
    if parsed.currency and parsed.currency != account.currency:
        raise StatementImportError(f"the statement is in {parsed.currency}; the account {account.name} is in "
                                   f"{account.currency}.")
    for line in parsed.lines:
        if line.currency != account.currency:
            raise StatementImportError(f"an entry in {line.currency}; the account {account.name} is in "
                                       f"{account.currency}.", line.source_line)


def identities(parsed: ParsedStatement) -> list[str]:
    """Each line's identity (see StatementLine): the bank's entry reference (numbered when the file repeats
    it), else booking date, amount, reference and the line's occurrence among its equals in the file."""
    refs = Counter(line.bank_reference for line in parsed.lines if line.bank_reference)
    seen: Counter = Counter()
    result = []
    for line in parsed.lines:
        if line.bank_reference:
            key = f"ref:{line.bank_reference}"
            if refs[line.bank_reference] > 1:
                seen[key] += 1
                key = f"{key}|{seen[key]}"
        else:
            base = f"key:{line.booking_date.isoformat()}|{quantize(line.amount)}|{line.reference}"
            seen[base] += 1
            key = f"{base}|{seen[base]}"
        result.append(key[:255])
    return result


def parse_file(*, account: BankAccount, content: bytes) -> ParsedStatement:
    """The file read and checked against the account (size, format, account, currency), or
    StatementImportError. Reads nothing from the database but the account given."""
    check_size(len(content))
    try:
        parsed = parse_statement(content, account)
    except StatementFormatError as exc:
        raise StatementImportError(exc.reason, exc.line)
    _check_account(parsed, account)
    return parsed


def statement_import(*, account_id: int, file_name: str, content: bytes, actor: Actor, at: dt.datetime,
                     progress: Progress | None = None) -> Statement:
    """Import one statement file into a bank account: the Statement with its counts (lines_new,
    lines_duplicate). Parsing happens before the transaction opens; the lines, the statement and the audit
    event are written in one transaction under the account's lock."""
    account = BankAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise StatementImportError("the bank account does not exist.")
    parsed = parse_file(account=account, content=content)
    return _store(account_id=account_id, parsed=parsed, file_name=file_name, content=content, actor=actor, at=at,
                  progress=progress)


@transaction.atomic
def _store(*, account_id: int, parsed: ParsedStatement, file_name: str, content: bytes, actor: Actor,
           at: dt.datetime, progress: Progress | None) -> Statement:
    account = lock_bank_account(account_id)
    keys = identities(parsed)
    existing = set(StatementLine.objects.filter(account=account, identity__in=text_array(keys))
                   .values_list("identity", flat=True))
    new = [(position, key, line) for position, (key, line) in enumerate(zip(keys, parsed.lines, strict=True), 1)
           if key not in existing]
    statement = Statement.objects.create(
        account=account, file_name=file_name[:255], file_sha256=file_sha256(content), file_size=len(content),
        format=parsed.format, statement_ref=parsed.statement_ref, period_from=parsed.period_from,
        period_to=parsed.period_to, lines_total=len(keys), lines_new=len(new), lines_duplicate=len(keys) - len(new),
        imported_at=at, imported_by=actor.label[:150])
    # The new lines are numbered first (one query), scored (their suggestions, state and best score) and then
    # written with their suggestions by COPY: no UPDATE of the lines after them (common/bulk.py, the figures).
    ids = reserve_ids(StatementLine, len(new))
    created = instances(StatementLine, (
        {"id": pk, "account_id": account.pk, "statement_id": statement.pk, "position": position, "identity": key,
         "booking_date": line.booking_date, "value_date": line.value_date, "amount": quantize(line.amount),
         "currency": line.currency, "bank_reference": line.bank_reference, "reference": line.reference,
         "payer_name": line.payer_name, "payer_account": line.payer_account, "remittance_text": line.remittance_text,
         "bank_code": line.bank_code, "created_at": at}
        for pk, (position, key, line) in zip(ids, new, strict=True)))
    suggestions = score_lines(created)
    for start in range(0, len(created), CHUNK):
        copy_rows(StatementLine, created[start:start + CHUNK], with_pk=True)
        if progress is not None:
            progress(min(start + CHUNK, len(created)), len(created))
    copy_rows(Suggestion, suggestions, with_pk=False)
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.statement.import", obj=statement, at=at,
                 after={"account": account.code, "file_name": statement.file_name, "format": statement.format,
                        "file_sha256": statement.file_sha256, "lines_total": statement.lines_total,
                        "lines_new": statement.lines_new, "lines_duplicate": statement.lines_duplicate})
    return statement


@transaction.atomic
def refused_file_record(*, account_id: int, file_name: str, file_sha256: str, reason: str, actor: Actor,
                        at: dt.datetime) -> RefusedFile:
    """Remember a file of a folder import that was refused (by its content's fingerprint), so the next scheduled
    runs skip it instead of refusing it again (banking.selectors.refused_before). Recorded again (the reason and
    the time replaced) when the same content is refused again after the account was edited."""
    account = lock_bank_account(account_id)
    before = RefusedFile.objects.filter(account=account, file_sha256=file_sha256).first()
    refused, _ = RefusedFile.objects.update_or_create(
        account=account, file_sha256=file_sha256,
        defaults={"file_name": file_name[:255], "reason": reason, "refused_at": at})
    audit_record(actor=actor, app=AuditApp.BANKING, action="banking.statement.refuse", obj=refused, at=at,
                 before={"reason": before.reason, "refused_at": before.refused_at} if before else None,
                 after={"account": account.code, "file_name": refused.file_name, "file_sha256": file_sha256,
                        "reason": reason}, reason=reason)
    return refused


@transaction.atomic
def import_job_queue(*, account_id: int, file_name: str, content: bytes, actor: Actor, at: dt.datetime) -> ImportJob:
    """Keep a large upload for the worker (banking.tasks.statement_import_job runs it after commit). The size is
    checked here, so a file too large is refused on the page and never stored."""
    check_size(len(content))
    account = BankAccount.objects.get(pk=account_id)
    job = ImportJob.objects.create(account=account, file_name=file_name[:255], file_size=len(content),
                                   content=content, created_at=at, created_by=actor.label[:150],
                                   created_by_kind=actor.kind, created_by_user_id=actor.user_id)
    from ..tasks import statement_import_job  # the task module imports the services

    transaction.on_commit(lambda: _enqueue(job.pk, statement_import_job))
    return job


def _enqueue(job_id: int, task) -> None:
    result = task.delay(job_id)
    ImportJob.objects.filter(pk=job_id, task_id="").update(task_id=result.id)


def import_job_run(*, job_id: int, actor: Actor, at: dt.datetime, progress: Progress | None = None) -> ImportJob:
    """Run a queued import (the worker's one call). Idempotent: a job already done or refused is returned as it
    is (a task delivered twice imports once). A refused file marks the job refused with the reason."""
    with transaction.atomic():
        job = lock_import_job(job_id)
        if job.state in (ImportJobState.DONE, ImportJobState.FAILED):
            return job
        ImportJob.objects.filter(pk=job.pk).update(state=ImportJobState.RUNNING)
    content = bytes(ImportJob.objects.values_list("content", flat=True).get(pk=job_id))
    try:
        with transaction.atomic():
            statement = statement_import(account_id=job.account_id, file_name=job.file_name, content=content,
                                         actor=actor, at=at, progress=progress)
            ImportJob.objects.filter(pk=job.pk).update(state=ImportJobState.DONE, statement=statement,
                                                       content=b"", finished_at=at)
    except StatementImportError as exc:
        ImportJob.objects.filter(pk=job.pk).update(state=ImportJobState.FAILED, error=str(exc), content=b"",
                                                   finished_at=at)
    return ImportJob.objects.defer("content").get(pk=job.pk)
