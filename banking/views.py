"""Banking pages: bank accounts (list, register, edit with the CSV mapping), statements (list, upload, page)
and an import's progress. Views validate the input, make one service call and render; a refusal is shown
on the page (status 200) and changes nothing."""

from __future__ import annotations

from celery.result import AsyncResult
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import Actor
from common.ids import parse_id
from common.lists import csv_text, list_page, paginate, querystring_without_page
from common.permissions import staff_view
from customers.money import MoneyError, parse_amount

from . import selectors
from .filters import BankAccountFilterSet, LineFilterSet, StatementFilterSet
from .forms import BankAccountForm, LineCustomerForm, ReasonForm, StatementUploadForm
from .matching import HIGH
from .models import BankAccount, ImportJobState, LineState, Statement, StatementLine, SuggestionKind
from .services._common import BankingError
from .services.accounts import bank_account_create, bank_account_update
from .services.imports import StatementImportError, check_size, import_job_queue, statement_import
from .services.reconcile import (
    ReconcileError,
    statement_line_choose_customer,
    statement_line_confirm,
    statement_line_ignore,
    statement_line_suggest,
    statement_line_undo,
    statement_lines_confirm_high,
)

# --- Bank accounts ----------------------------------------------------------------------------------------
ACCOUNT_CSV = ["id", "name", "code", "iban", "bic", "currency", "csv_mapping"]


def _account_row(a: BankAccount) -> list:
    return [a.pk, csv_text(a.name), a.code, csv_text(a.iban), a.bic, a.currency, "yes" if a.has_csv_mapping else "no"]


@require_GET
@staff_view("banking.view_bankaccount")
def account_list(request):
    filters = BankAccountFilterSet(request.GET, selectors.bank_accounts(),
                                   currencies=selectors.bank_account_currencies())
    return list_page(request, filters,
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
    return [s.pk, s.imported_at.isoformat(), s.account.code, csv_text(s.file_name), s.format, csv_text(s.statement_ref),
            s.period_from.isoformat() if s.period_from else "", s.period_to.isoformat() if s.period_to else "",
            s.lines_total, s.lines_new, s.lines_duplicate, csv_text(s.imported_by)]


@require_GET
@staff_view("banking.view_statement")
def statement_list(request):
    return list_page(request, StatementFilterSet(request.GET, selectors.statements()),
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


# --- Reconcile inbox --------------------------------------------------------------------------------------
LINE_CSV = ["id", "booking_date", "account", "amount", "currency", "payer", "payer_account", "reference",
            "bank_reference", "remittance_text", "state", "best_score", "suggestion", "reasons", "payment",
            "withdrawal", "ignored_reason"]
# What one click may confirm at once (the lines with a high-confidence suggestion under the current filters).
CONFIRM_ALL_LIMIT = 500


def _line_row(line: StatementLine) -> list:
    top = line.top[0] if line.top else None
    return [line.pk, line.booking_date.isoformat(), line.account.code, line.amount, line.currency,
            csv_text(line.payer_name), csv_text(line.payer_account), csv_text(line.reference), csv_text(line.bank_reference),
            csv_text(line.remittance_text), line.state, line.best_score, top.get_kind_display() if top else "",
            csv_text("; ".join(top.reasons)) if top else "", line.payment_id or "", line.withdrawal_id or "",
            csv_text(line.ignored_reason)]


_PK_MARK = 2_147_483_647  # an id no URL of ours holds otherwise


def _around_pk(name: str) -> tuple[str, str]:
    """The URL of `name` for an object as the parts before and after its id: reversed once per page, where a
    {% url %} per row cost the inbox a reverse() per link (bench/README.md, the reconcile inbox)."""
    before, after = reverse(name, args=[_PK_MARK]).split(str(_PK_MARK))
    return before, after


@require_GET
@staff_view("banking.view_statementline")
def line_list(request):
    line_url, line_end = _around_pk("banking:line-detail")
    confirm_url, confirm_end = _around_pk("banking:line-confirm")
    payment_url, payment_end = _around_pk("finance:payment-detail")
    withdrawal_url, withdrawal_end = _around_pk("finance:withdrawal-detail")
    context = {"high": HIGH, "can_confirm": request.user.has_perm("banking.change_statementline"),
               "line_url": line_url, "line_end": line_end, "confirm_url": confirm_url, "confirm_end": confirm_end,
               "payment_url": payment_url, "payment_end": payment_end,
               "withdrawal_url": withdrawal_url, "withdrawal_end": withdrawal_end}
    return list_page(request, LineFilterSet(request.GET, selectors.statement_lines_inbox()), deep=True,
                     template="banking/line_list.html", target="line-table", csv_prefix="statement-lines",
                     csv_header=LINE_CSV, csv_row=_line_row, context=context)


def _back(request, line_id: int | None = None):
    """Back to where the action came from: the inbox (with its filters) or the line's page."""
    url = request.POST.get("next", "")
    if url.startswith("/bank/") and "//" not in url:
        return redirect(url)
    return redirect("banking:line-detail", pk=line_id) if line_id else redirect("banking:line-list")


def _allocations_from(data) -> list[tuple[int, object]] | None:
    """The allocation edited before confirming: invoice=<id> (checkboxes) and amount-<id>, as finance's allocate
    page; None when the form did not edit it (the suggestion's own)."""
    if data.get("edited") != "1":
        return None
    lines = []
    for raw in data.getlist("invoice"):
        invoice_id = parse_id(raw)
        if invoice_id is None:
            continue
        try:
            lines.append((invoice_id, parse_amount(data.get(f"amount-{raw}", ""), field="The amount")))
        except MoneyError as exc:
            raise ReconcileError(str(exc))
    return lines


@require_POST
@staff_view("banking.change_statementline", "finance.add_payment", "finance.add_allocation")
def line_confirm(request, pk: int):
    line = get_object_or_404(StatementLine, pk=pk)
    try:
        allocations = _allocations_from(request.POST)
        statement_line_confirm(line_id=line.pk, suggestion_id=parse_id(request.POST.get("suggestion")) or 0,
                               allocations=allocations, actor=Actor.from_request(request), at=timezone.now())
    except ReconcileError as exc:
        messages.error(request, f"Line #{pk}: {exc}")
        return _back(request, pk)
    messages.success(request, f"Line #{pk} reconciled.")
    return _back(request)


@require_POST
@staff_view("banking.change_statementline", "finance.add_payment", "finance.add_allocation")
def line_confirm_high(request):
    # The inbox's filters (posted by its page), narrowed to the suggested lines of high confidence.
    data = request.POST.copy()
    data["state"], data["confidence"] = LineState.SUGGESTED, "high"
    ids = list(LineFilterSet(data, selectors.statement_lines_inbox()).qs
               .values_list("pk", flat=True)[:CONFIRM_ALL_LIMIT])
    confirmed, refused = statement_lines_confirm_high(line_ids=ids, actor=Actor.from_request(request),
                                                      at=timezone.now())
    if confirmed:
        messages.success(request, f"{confirmed} line{'s' if confirmed != 1 else ''} reconciled.")
    for message in refused[:10]:
        messages.error(request, message)
    if not confirmed and not refused:
        messages.info(request, "No line has a high-confidence suggestion.")
    return _back(request)


@require_POST
@staff_view("banking.change_statementline")
def line_ignore(request, pk: int):
    line = get_object_or_404(StatementLine, pk=pk)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        statement_line_ignore(line_id=line.pk, reason=reason, actor=Actor.from_request(request), at=timezone.now())
    except ReconcileError as exc:
        messages.error(request, f"Line #{pk}: {exc}")
        return redirect("banking:line-detail", pk=pk)
    messages.success(request, f"Line #{pk} ignored.")
    return _back(request)


@require_POST
@staff_view("banking.change_statementline", "finance.delete_payment", "finance.change_allocation")
def line_undo(request, pk: int):
    line = get_object_or_404(StatementLine, pk=pk)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        statement_line_undo(line_id=line.pk, reason=reason, actor=Actor.from_request(request), at=timezone.now())
    except ReconcileError as exc:
        messages.error(request, f"Line #{pk}: {exc}")
    else:
        messages.success(request, f"Line #{pk} is back in the inbox.")
    return redirect("banking:line-detail", pk=pk)


@require_POST
@staff_view("banking.change_statementline")
def line_suggest(request, pk: int):
    line = get_object_or_404(StatementLine, pk=pk)
    try:
        line = statement_line_suggest(line_id=line.pk, actor=Actor.from_request(request), at=timezone.now())
    except ReconcileError as exc:
        messages.error(request, f"Line #{pk}: {exc}")
    else:
        count = line.suggestions.count()
        messages.success(request, f"{count} suggestion{'s' if count != 1 else ''} found." if count
                         else "Still no suggestion.")
    return redirect("banking:line-detail", pk=pk)


@require_POST
@staff_view("banking.change_statementline", "finance.add_payment", "finance.add_allocation")
def line_choose_customer(request, pk: int):
    """The customer a line came from, chosen with the picker: its suggestion is added and opened for editing, to
    confirm as any other (line_confirm). A code that names nobody, or a refusal, is shown on the line's page."""
    line = selectors.statement_line(pk)
    if line is None:
        raise Http404("No such statement line.")
    form = LineCustomerForm(request.POST)
    if form.is_valid():
        try:
            suggestion = statement_line_choose_customer(line_id=line.pk, customer_id=form.cleaned_data["customer"].pk,
                                                        actor=Actor.from_request(request), at=timezone.now())
        except ReconcileError as exc:
            form.add_error("customer", str(exc))
        else:
            return redirect(f"{reverse('banking:line-detail', args=[pk])}?edit={suggestion.pk}#edit-allocation")
    return _line_page(request, line, customer_form=form)


@require_GET
@staff_view("banking.view_statementline")
def line_detail(request, pk: int):
    line = selectors.statement_line(pk)
    if line is None:
        raise Http404("No such statement line.")
    return _line_page(request, line)


def _line_page(request, line: StatementLine, customer_form: LineCustomerForm | None = None):
    suggestions = selectors.line_suggestions(line)
    edit = None
    chosen = parse_id(request.GET.get("edit"))
    if chosen and line.state != LineState.RECONCILED:
        edit = next((s for s in suggestions if s.pk == chosen and s.kind in (SuggestionKind.ALLOCATE,
                                                                              SuggestionKind.ASSIGN)), None)
    context = {"line": line, "suggestions": suggestions, "high": HIGH, "edit": edit,
               "choices": selectors.allocation_choices(edit) if edit else [],
               "reason_form": ReasonForm(), "customer_form": customer_form or LineCustomerForm()}
    return render(request, "banking/line_detail.html", context)


@require_GET
@staff_view("banking.view_statementline")
def line_preview(request, pk: int):
    """Read-only: what the edited allocation would do, finance's own preview (rendered by htmx)."""
    line = get_object_or_404(StatementLine, pk=pk)
    lines = [(raw, request.GET.get(f"amount-{raw}", "")) for raw in request.GET.getlist("invoice")]
    preview = selectors.line_allocation_preview(line, lines) if lines else None
    return render(request, "finance/payment_allocate.html#allocation-preview", {"preview": preview})

