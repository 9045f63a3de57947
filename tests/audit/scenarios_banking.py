"""Audit walk scenarios for the banking services (banking/services/)."""

from django.utils import timezone

from banking.services.accounts import bank_account_create, bank_account_update
from banking.services.imports import import_job_queue, import_job_run, refused_file_record, statement_import
from banking.services.reconcile import (
    statement_line_choose_customer,
    statement_line_confirm,
    statement_line_ignore,
    statement_line_suggest,
    statement_line_undo,
    statement_lines_confirm_high,
)
from tests.banking.factories import bank_account, camt053, sample
from tests.customers.factories import SYSTEM
from tests.finance.factories import customer, purchase_invoice


def account_create():
    return lambda: bank_account_create(name="DBS", code="dbs", iban="SG1", currency="SGD", actor=SYSTEM,
                                       at=timezone.now())


def account_update():
    account = bank_account()
    return lambda: bank_account_update(account_id=account.pk, name="DBS operating", csv_date_column="Date",
                                       csv_amount_column="Amount", actor=SYSTEM, at=timezone.now())


def import_statement():
    account = bank_account()
    return lambda: statement_import(account_id=account.pk, file_name="nov.sta", content=sample("mt940.sta"),
                                    actor=SYSTEM, at=timezone.now())


def refuse_file():
    account = bank_account()
    return lambda: refused_file_record(account_id=account.pk, file_name="bad.xml", file_sha256="0" * 64,
                                       reason="not a statement", actor=SYSTEM, at=timezone.now())


def run_job():
    account = bank_account()
    job = import_job_queue(account_id=account.pk, file_name="nov.sta", content=sample("mt940.sta"), actor=SYSTEM,
                           at=timezone.now())
    return lambda: import_job_run(job_id=job.pk, actor=SYSTEM, at=timezone.now())


def _line():
    invoice = purchase_invoice(customer(), "100")
    account = bank_account()
    statement = statement_import(account_id=account.pk, file_name="s.xml", actor=SYSTEM, at=timezone.now(),
                                 content=camt053([{"amount": "100.00", "text": invoice.number,
                                                   "date": timezone.localdate().isoformat()}]))
    return statement.lines.get()


def confirm():
    line = _line()
    suggestion = line.suggestions.get(rank=1)
    return lambda: statement_line_confirm(line_id=line.pk, suggestion_id=suggestion.pk, actor=SYSTEM,
                                          at=timezone.now())


def confirm_high():
    line = _line()
    return lambda: statement_lines_confirm_high(line_ids=[line.pk], actor=SYSTEM, at=timezone.now())


def ignore():
    line = _line()
    return lambda: statement_line_ignore(line_id=line.pk, reason="walk", actor=SYSTEM, at=timezone.now())


def undo():
    line = _line()
    statement_line_confirm(line_id=line.pk, suggestion_id=line.suggestions.get(rank=1).pk, actor=SYSTEM,
                           at=timezone.now())
    return lambda: statement_line_undo(line_id=line.pk, reason="walk", actor=SYSTEM, at=timezone.now())


def choose_customer():
    line = _line()
    other = customer(name="Other Co")
    return lambda: statement_line_choose_customer(line_id=line.pk, customer_id=other.pk, actor=SYSTEM,
                                                  at=timezone.now())


def suggest():
    line = _line()
    return lambda: statement_line_suggest(line_id=line.pk, actor=SYSTEM, at=timezone.now())


SCENARIOS = {
    "banking.services.reconcile.statement_line_suggest": suggest,
    "banking.services.reconcile.statement_line_confirm": confirm,
    "banking.services.reconcile.statement_line_choose_customer": choose_customer,
    "banking.services.reconcile.statement_lines_confirm_high": confirm_high,
    "banking.services.reconcile.statement_line_ignore": ignore,
    "banking.services.reconcile.statement_line_undo": undo,
    "banking.services.accounts.bank_account_create": account_create,
    "banking.services.accounts.bank_account_update": account_update,
    "banking.services.imports.statement_import": import_statement,
    "banking.services.imports.import_job_run": run_job,
    "banking.services.imports.refused_file_record": refuse_file,
}
