"""Audit walk scenarios for the banking services (banking/services/)."""

from django.utils import timezone

from banking.services.accounts import bank_account_create, bank_account_update
from banking.services.imports import import_job_queue, import_job_run, statement_import
from tests.banking.factories import bank_account, sample
from tests.customers.factories import SYSTEM


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


def run_job():
    account = bank_account()
    job = import_job_queue(account_id=account.pk, file_name="nov.sta", content=sample("mt940.sta"), actor=SYSTEM,
                           at=timezone.now())
    return lambda: import_job_run(job_id=job.pk, actor=SYSTEM, at=timezone.now())


SCENARIOS = {
    "banking.services.accounts.bank_account_create": account_create,
    "banking.services.accounts.bank_account_update": account_update,
    "banking.services.imports.statement_import": import_statement,
    "banking.services.imports.import_job_run": run_job,
}
