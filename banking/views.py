"""Banking pages: bank accounts (list, register, edit with the CSV mapping), statements (list, upload, page)
and an import's progress. Views validate the input, make one service call and render; a refusal is shown
on the page (status 200) and changes nothing."""

from __future__ import annotations

from celery.result import AsyncResult
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.actors import Actor
from common.lists import list_page, paginate, querystring_without_page
from common.permissions import staff_view

from . import selectors
from .forms import BankAccountFilterForm, BankAccountForm, StatementFilterForm, StatementUploadForm
from .models import BankAccount, ImportJobState, Statement
from .services._common import BankingError
from .services.accounts import bank_account_create, bank_account_update
from .services.imports import StatementImportError, check_size, import_job_queue, statement_import


def _cell(value) -> str:
    """Text a spreadsheet shows as text: a leading =, +, -, @ (a formula) is escaped with a quote."""
    value = "" if value is None else str(value)
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# --- Bank accounts ----------------------------------------------------------------------------------------
ACCOUNT_CSV = ["id", "name", "code", "iban", "bic", "currency", "csv_mapping"]


def _account_row(a: BankAccount) -> list:
    return [a.pk, _cell(a.name), a.code, _cell(a.iban), a.bic, a.currency, "yes" if a.has_csv_mapping else "no"]


@require_GET
@staff_view("banking.view_bankaccount")
def account_list(request):
    form = BankAccountFilterForm(request.GET or None)
    return list_page(request, form=form, rows=selectors.bank_accounts(**form.filters()),
                     template="banking/bankaccount_list.html", target="account-table", csv_prefix="bank-accounts",
                     csv_header=ACCOUNT_CSV, csv_row=_account_row)


@require_http_methods(["GET", "POST"])
@staff_view("banking.add_bankaccount")
def account_create(request):
    form = BankAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = bank_account_create(actor=Actor.from_request(request), at=timezone.now(), **form.cleaned_data)
        except BankingError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Bank account {account.name} registered.")
            return redirect("banking:account-list")
    return render(request, "banking/bankaccount_form.html", {"form": form, "account": None})


@require_http_methods(["GET", "POST"])
@staff_view("banking.change_bankaccount")
def account_edit(request, pk: int):
    account = get_object_or_404(BankAccount, pk=pk)
    form = BankAccountForm(request.POST or None, initial=BankAccountForm.initial_for(account))
    if request.method == "POST" and form.is_valid():
        try:
            bank_account_update(account_id=account.pk, actor=Actor.from_request(request), at=timezone.now(),
                                **form.cleaned_data)
        except BankingError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Bank account {form.cleaned_data['name']} saved.")
            return redirect("banking:account-list")
    return render(request, "banking/bankaccount_form.html", {"form": form, "account": account})


# --- Statements -------------------------------------------------------------------------------------------
STATEMENT_CSV = ["id", "imported_at", "account", "file_name", "format", "statement_id", "period_from", "period_to",
                 "lines_total", "lines_new", "lines_already_imported", "imported_by"]


def _statement_row(s: Statement) -> list:
    return [s.pk, s.imported_at.isoformat(), s.account.code, _cell(s.file_name), s.format, _cell(s.statement_ref),
            s.period_from.isoformat() if s.period_from else "", s.period_to.isoformat() if s.period_to else "",
            s.lines_total, s.lines_new, s.lines_duplicate, _cell(s.imported_by)]


@require_GET
@staff_view("banking.view_statement")
def statement_list(request):
    form = StatementFilterForm(request.GET or None)
    return list_page(request, form=form, rows=selectors.statements(**form.filters()),
                     template="banking/statement_list.html", target="statement-table", csv_prefix="statements",
                     csv_header=STATEMENT_CSV, csv_row=_statement_row)


@require_GET
@staff_view("banking.view_statement")
def statement_detail(request, pk: int):
    statement = get_object_or_404(Statement.objects.select_related("account"), pk=pk)
    page = paginate(request, selectors.statement_lines(statement))
    return render(request, "banking/statement_detail.html",
                  {"s": statement, "page": page, "qs": querystring_without_page(request)})


def _import_one(request, account: BankAccount, upload) -> dict:
    """One uploaded file: imported now when small, else handed to the worker. Never raises for a bad file."""
    name = upload.name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    actor, now = Actor.from_request(request), timezone.now()
    try:
        check_size(upload.size)  # before reading it: a file too large is never read into memory
        content = upload.read()
        if len(content) > settings.LEDGERDESK_BANK_IMPORT_INLINE_BYTES:
            job = import_job_queue(account_id=account.pk, file_name=name, content=content, actor=actor, at=now)
            return {"file_name": name, "job": job}
        statement = statement_import(account_id=account.pk, file_name=name, content=content, actor=actor, at=now)
    except StatementImportError as exc:
        return {"file_name": name, "error": str(exc)}
    return {"file_name": name, "statement": statement}


@require_http_methods(["GET", "POST"])
@staff_view("banking.add_statement")
def statement_upload(request):
    form = StatementUploadForm(request.POST or None, request.FILES or None)
    results = []
    if request.method == "POST" and form.is_valid():
        account = form.cleaned_data["account"]
        results = [_import_one(request, account, upload) for upload in form.cleaned_data["files"]]
    return render(request, "banking/statement_upload.html", {"form": form, "results": results,
                                                             "accounts_exist": BankAccount.objects.exists()})


statement_upload.accepts_uploads = True  # common.middleware parses its form as a stream (files up to the limit)


@require_GET
@staff_view("banking.view_statement")
def import_progress(request, pk: int):
    """An import handed to the worker: its progress while it runs (the page polls this), its result after."""
    job = selectors.import_job(pk)
    if job is None:
        raise Http404("No such import.")
    done = total = None
    if job.state in (ImportJobState.QUEUED, ImportJobState.RUNNING) and job.task_id:
        result = AsyncResult(job.task_id)
        if result.state == "PROGRESS" and isinstance(result.info, dict):
            done, total = result.info.get("done"), result.info.get("total")
    return render(request, "banking/statement_upload.html#import-job",
                  {"r": {"file_name": job.file_name, "job": job}, "done": done, "total": total})
