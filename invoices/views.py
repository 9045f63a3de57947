"""The staff invoice pages: validate input, make one service call, render. Refusals are shown on the page
(status 200) and change nothing."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import Actor
from common.form_tokens import submit_form, submit_once
from common.ids import from_query, parse_id
from common.lists import (
    htmx_page,
    list_page,
    querystring_without,
    redirect_page,
)
from common.permissions import staff_view
from customers.models import Customer

from . import selectors
from .filters import BillingFailureFilterSet, BillingRunFilterSet, InvoiceFilterSet
from .forms import PurchaseInvoiceForm, PurchaseLineFormSet, TopUpInvoiceForm, VoidForm
from .models import BillingRun, Invoice
from .services import (
    InvoiceError,
    PurchaseLine,
    invoice_create_purchase,
    invoice_create_top_up,
    invoice_mark_sent,
    invoice_send,
    invoice_void,
    void_refusal,
)
from .services.billing_run import run_progress
from .services.common import tax_rate
from .services.pdf import pdf_filename, render_invoice_pdf

TOTALS = ("total", "currency")  # the list's totals per currency: of the invoices' totals


# --- the list ----------------------------------------------------------------------------------------------
@require_GET
@staff_view("invoices.view_invoice")
def invoice_list(request):
    filters = InvoiceFilterSet(request.GET, selectors.invoice_list())
    return list_page(request, filters, deep=True, template="invoices/invoice_list.html", target="invoice-table",
                     csv_prefix="invoices", csv_header=selectors.INVOICE_CSV_HEADER, csv_row=selectors.invoice_csv_row,
                     totals=TOTALS, context={
                         "customer_filter": filters.values.get("customer"),
                         "without_customer": querystring_without(request, "customer", "page", "format")})


# --- create ------------------------------------------------------------------------------------------------
def _initial_customer(request) -> dict:
    customer = from_query(request, "customer", Customer.objects)
    return {"customer": customer.code} if customer else {}


@require_GET
@staff_view("invoices.add_invoice")
def create(request):
    """"+ Create invoice": choose Top-up or Purchase (the customer, if given, is passed on)."""
    customer_id = parse_id(request.GET.get("customer"))
    return render(request, "invoices/invoice_create.html",
                  {"suffix": f"?customer={customer_id}" if customer_id else ""})


@require_http_methods(["GET", "POST"])
@staff_view("invoices.add_invoice")
def create_top_up(request):
    form = TopUpInvoiceForm(request.POST or None, initial=_initial_customer(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def create() -> str:
            invoice = invoice_create_top_up(customer_id=data["customer"].pk, amount=data["amount"], name=data["name"],
                                            billing_to=data["billing_to"], due_date=data["due_date"],
                                            actor=Actor.from_request(request))
            messages.success(request, f"Top-up invoice {invoice.number} created as a draft: send it (or mark it "
                                      "as sent) before allocating a payment.")
            return reverse("invoices:detail", args=[invoice.pk])
        if response := submit_form(request, form, create, InvoiceError):
            return response
    return htmx_page(request, "invoices/invoice_top_up_form.html", "top-up-form", {"form": form})


def _line_formset(request):
    if request.method != "POST":
        return PurchaseLineFormSet(prefix="lines", initial=[{"tax_rate": tax_rate(), "quantity": "1"}])
    data = request.POST.copy()
    if "add_line" in data:
        n = parse_id(data.get("lines-TOTAL_FORMS")) or 0
        if n < 200:
            data["lines-TOTAL_FORMS"] = str(n + 1)
            data[f"lines-{n}-quantity"], data[f"lines-{n}-tax_rate"] = "1", str(tax_rate())
            data[f"lines-{n}-kind"] = "service"
    return PurchaseLineFormSet(data, prefix="lines")


@require_http_methods(["GET", "POST"])
@staff_view("invoices.add_invoice")
def create_purchase(request):
    form = PurchaseInvoiceForm(request.POST or None, initial=_initial_customer(request))
    lines = _line_formset(request)
    adding = request.method == "POST" and "add_line" in request.POST
    if request.method == "POST" and not adding and form.is_valid() and lines.is_valid():
        data = form.cleaned_data
        entered = [PurchaseLine(description=f.cleaned_data["description"], quantity=f.cleaned_data["quantity"],
                                unit_price=f.cleaned_data["unit_price"], kind=f.cleaned_data["kind"],
                                tax_rate=f.cleaned_data["tax_rate"]) for f in lines.forms if not f.is_blank()]

        def create() -> str:
            invoice = invoice_create_purchase(customer_id=data["customer"].pk, lines=entered, name=data["name"],
                                              billing_to=data["billing_to"], due_date=data["due_date"],
                                              actor=Actor.from_request(request))
            messages.success(request, f"Purchase invoice {invoice.number} created as a draft.")
            return reverse("invoices:detail", args=[invoice.pk])
        if response := submit_form(request, form, create, InvoiceError):
            return response
    return htmx_page(request, "invoices/invoice_purchase_form.html", "purchase-form",
                     {"form": form, "lines": lines, "tax_rate": tax_rate()})


# --- one invoice -------------------------------------------------------------------------------------------
# The page of one invoice (invoices:detail) also shows the money finance applied to it, which this app cannot
# import: finance composes it (finance.payments.views.invoice_detail renders finance/invoice_detail.html, which
# extends this app's invoices/invoice_detail.html) from detail_context below, and config/urls.py mounts it
# under this app's namespace.
def detail_context(invoice: Invoice, **extra) -> dict:
    """Everything this app shows on the invoice page (one query each, whatever the number of rows)."""
    return {
        "invoice": invoice,
        "lines": selectors.invoice_lines(invoice),
        "figures": selectors.invoice_figures(invoice),
        "notifications": selectors.invoice_notifications(invoice)[:20],
        "history": selectors.invoice_history(invoice),
        "ledger": selectors.invoice_ledger(invoice),
        "void_refusal": void_refusal(invoice),
        "void_form": extra.pop("void_form", None) or VoidForm(),
        **extra,
    }


def _action(request, pk: int, call, done: str):
    """Run one service call for the invoice; success reloads the page with a message, a refusal is shown
    in the page's action bar (htmx) or as an error message."""
    invoice = get_object_or_404(Invoice, pk=pk)
    back = reverse("invoices:detail", args=[pk])

    def act() -> str:
        result = call(invoice)
        messages.success(request, done.format(number=result.number, email=result.customer.billing_email))
        return back
    try:
        return redirect_page(
            request, submit_once(request, act, busy_url=back)
        )  # a double click sends one email
    except InvoiceError as exc:
        if request.htmx:
            invoice = Invoice.objects.select_related("customer").get(pk=pk)
            return render(request, "invoices/invoice_detail.html#invoice-actions",
                          detail_context(invoice, action_error=str(exc)))
        messages.error(request, str(exc))
    return redirect_page(request, back)


@require_POST
@staff_view("invoices.change_invoice")
def send(request, pk: int):
    return _action(request, pk, lambda inv: invoice_send(invoice_id=inv.pk, actor=Actor.from_request(request)),
                   "Invoice {number} sent to {email}.")


@require_POST
@staff_view("invoices.change_invoice")
def mark_sent(request, pk: int):
    return _action(request, pk, lambda inv: invoice_mark_sent(invoice_id=inv.pk, actor=Actor.from_request(request)),
                   "Invoice {number} marked as sent (no email).")


@require_POST
@staff_view("invoices.change_invoice")
def void(request, pk: int):
    form = VoidForm(request.POST)
    if not form.is_valid():
        if not request.htmx:  # the page is finance's composition: say it with a message on it
            messages.error(request, "Give the reason for voiding the invoice.")
            return redirect("invoices:detail", pk=pk)
        invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
        return render(request, "invoices/invoice_detail.html#invoice-actions",
                      detail_context(invoice, void_form=form, void_open=True))
    reason = form.cleaned_data["reason"]
    return _action(request, pk,
                   lambda inv: invoice_void(invoice_id=inv.pk, reason=reason, actor=Actor.from_request(request)),
                   "Invoice {number} voided; its number is kept.")


@require_GET
@staff_view("invoices.view_invoice")
def pdf(request, pk: int):
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    disposition = "inline" if request.GET.get("inline") else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{pdf_filename(invoice)}"'
    return response


# --- the monthly billing runs --------------------------------------------------------------------------------
@require_GET
@staff_view("invoices.view_invoice")
def billing_runs(request):
    """Every run of the monthly billing (beat on days 1-3, `manage.py billing_run`), with its progress."""
    filters = BillingRunFilterSet(request.GET, selectors.billing_run_list())
    return list_page(request, filters, template="invoices/billing_runs.html", target="run-table",
                     csv_prefix="billing-runs", csv_header=selectors.RUN_CSV_HEADER,
                     csv_row=selectors.billing_run_csv_row)


@require_GET
@staff_view("invoices.view_invoice")
def billing_run_detail(request, pk: int):
    """One run live: customers done / to do, invoices issued, failures (the progress panel polls itself with
    htmx while the run is not finished), and the customers that failed, with their errors and retries."""
    run = get_object_or_404(BillingRun, pk=pk)
    progress = run_progress(run)
    if request.htmx and request.htmx.target == "run-progress":
        return render(request, "invoices/billing_run_detail.html#run-progress", {"run": run, "progress": progress})
    filters = BillingFailureFilterSet(request.GET, selectors.billing_failure_list(run))
    return list_page(request, filters, template="invoices/billing_run_detail.html", target="failure-table",
                     csv_prefix=f"billing-run-{run.pk}-failures", csv_header=selectors.FAILURE_CSV_HEADER,
                     csv_row=selectors.billing_failure_csv_row,
                     context={"run": run, "progress": progress, "poll_seconds": POLL_SECONDS})


POLL_SECONDS = 2
