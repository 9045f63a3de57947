"""Payments pages: payments (list, record, page, edit, delete, assign, allocate, top-up), allocations and
top-ups undone, credit notes, withdrawals and the staff invoice page's money section. Views validate the input, make one service call
and render; a refusal is shown on the page (status 200) and changes nothing."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.actors import Actor
from audit.selectors import audit_events
from common.form_tokens import submit_button, submit_form, submit_once
from common.ids import from_query, parse_id
from common.lists import (
    csv_text,
    htmx_page,
    htmx_template,
    list_page,
)
from common.permissions import staff_view
from customers.models import Customer
from customers.money import display
from invoices.models import Invoice, InvoiceType
from invoices.views import detail_context

from ..models import MAX_ASSIGNMENT_CHANGES, Allocation, CreditNote, Payment, TopUp, Withdrawal
from ..services._common import FinanceError
from ..services.allocation import allocation_reverse, payment_allocate
from ..services.credit_notes import credit_note_issue
from ..services.payments import (
    payment_assign,
    payment_delete,
    payment_record,
    payment_unassign,
    payment_update,
)
from ..services.top_ups import payment_top_up, top_up_remove
from ..services.withdrawals import withdrawal_record
from . import selectors
from .filters import CreditNoteFilterSet, PaymentFilterSet, WithdrawalFilterSet
from .forms import (
    AssignForm,
    CreditNoteForm,
    InvoiceSearchForm,
    PaymentForm,
    ReasonForm,
    TopUpForm,
    WithdrawalForm,
)
from .pdf import credit_note_filename, render_credit_note_pdf
from .selectors import invoice_money

# --- Payments: list ------------------------------------------------------------------------------------------
PAYMENT_CSV = ["id", "received_date", "customer_code", "customer", "currency", "amount", "allocated", "topped_up",
               "unallocated", "status", "method", "reference", "invoice_number", "remark", "assignment_changes"]


def _payment_row(p: Payment) -> list:
    return [p.pk, p.received_date.isoformat(), csv_text(p.customer.code if p.customer else ""),
            csv_text(p.customer.name if p.customer else ""), p.currency, p.amount, p.amount_allocated,
            p.amount_topped_up, p.amount_unallocated, p.status, p.method, csv_text(p.reference),
            csv_text(p.invoice_number), csv_text(p.remark), p.assignment_changes]


@require_GET
@staff_view("finance.view_payment")
def payment_list(request):
    filters = PaymentFilterSet(request.GET, selectors.payments())
    return list_page(request, filters, deep=True, totals=("amount", "currency"),
                     template="finance/payment_list.html", target="payment-table",
                     csv_prefix="payments", csv_header=PAYMENT_CSV, csv_row=_payment_row)


# --- Payments: record, edit, delete ---------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@staff_view("finance.add_payment")
def payment_create(request):
    if request.method == "GET" and request.htmx and "customer" in request.GET:
        # The customer was picked: the currency field follows it (htmx swaps it in).
        form = PaymentForm(initial={"customer": request.GET["customer"]})
        return render(request, "finance/payment_form.html#currency-field", {"form": form, "payment": None})
    form = PaymentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data

        def record() -> str:
            payment = payment_record(**d, actor=Actor.from_request(request))
            messages.success(request, f"Payment #{payment.pk} of {display(payment.amount)} {payment.currency} "
                                      "recorded.")
            return reverse("finance:payment-detail", args=[payment.pk])
        if response := submit_form(request, form, record, FinanceError):
            return response
    return render(request, "finance/payment_form.html", {"form": form, "payment": None})


@require_http_methods(["GET", "POST"])
@staff_view("finance.change_payment")
def payment_edit(request, pk: int):
    payment = get_object_or_404(Payment.objects.select_related("customer"), pk=pk)
    initial = {f: getattr(payment, f) for f in PaymentForm.base_fields if f != "customer"}  # the customer: assign
    form = PaymentForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data

        def save() -> str:
            payment_update(payment=payment, **d, actor=Actor.from_request(request))
            messages.success(request, f"Payment #{payment.pk} saved.")
            return reverse("finance:payment-detail", args=[payment.pk])
        if response := submit_form(request, form, save, FinanceError):
            return response
    return render(request, "finance/payment_form.html", {"form": form, "payment": payment})


@require_POST
@staff_view("finance.delete_payment")
def payment_remove(request, pk: int):
    payment = get_object_or_404(Payment, pk=pk)
    try:
        payment_delete(payment=payment, actor=Actor.from_request(request), reason=request.POST.get("reason", "")[:255])
    except FinanceError as exc:
        messages.error(request, str(exc))
        return redirect("finance:payment-detail", pk=pk)
    messages.success(request, f"Payment #{pk} deleted.")
    return redirect("finance:payment-list")


# --- Payment page ----------------------------------------------------------------------------------------------
def _payment_context(payment_id: int, **extra) -> dict:
    try:
        page = selectors.payment_page(payment_id)
    except Payment.DoesNotExist:
        raise Http404("No such payment.")
    history = list(audit_events(object_type="finance.payment", object_id=payment_id)[:100])
    payment = page.payment
    return {"p": payment, "page": page, "history": history, "max_changes": MAX_ASSIGNMENT_CHANGES,
            "top_up_form": TopUpForm(initial={"amount": payment.amount_unallocated}), **extra}


@require_GET
@staff_view("finance.view_payment")
def payment_detail(request, pk: int):
    return render(request, "finance/payment_detail.html", _payment_context(pk))


@require_http_methods(["GET", "POST"])
@staff_view("finance.change_payment")
def payment_assign_view(request, pk: int):
    payment = get_object_or_404(Payment.objects.select_related("customer"), pk=pk)
    form = AssignForm(request.POST or None, currency=payment.currency)
    if request.method == "POST" and form.is_valid():
        def assign() -> str:
            payment_assign(payment=payment, customer=form.cleaned_data["customer"], actor=Actor.from_request(request))
            messages.success(request, f"Payment #{pk} assigned to {form.cleaned_data['customer'].name}.")
            return reverse("finance:payment-detail", args=[pk])
        if response := submit_form(request, form, assign, FinanceError):
            return response
    return htmx_page(request, "finance/payment_assign.html", "assign-form",
                     {"p": payment, "form": form, "max_changes": MAX_ASSIGNMENT_CHANGES})


@require_POST
@staff_view("finance.change_payment")
def payment_unassign_view(request, pk: int):
    payment = get_object_or_404(Payment, pk=pk)
    back = reverse("finance:payment-detail", args=[pk])

    def unassign() -> str:
        payment_unassign(payment=payment, actor=Actor.from_request(request),
                         reason=request.POST.get("reason", "")[:255])
        messages.success(request, f"Payment #{pk} un-assigned.")
        return back
    return submit_button(request, unassign, FinanceError, back=back)


@require_POST
@staff_view("finance.add_topup")
def payment_top_up_view(request, pk: int):
    payment = get_object_or_404(Payment, pk=pk)
    form = TopUpForm(request.POST)
    if form.is_valid():
        def top_up() -> str:
            made = payment_top_up(payment=payment, amount=form.cleaned_data["amount"],
                                  remark=form.cleaned_data["remark"], actor=Actor.from_request(request))
            messages.success(request, f"{display(made.amount)} {payment.currency} of payment #{pk} turned into "
                                      "credits.")
            return reverse("finance:payment-detail", args=[pk])
        if response := submit_form(request, form, top_up, FinanceError,
                                   busy_url=reverse("finance:payment-detail", args=[pk])):
            return response
    return render(request, "finance/payment_detail.html", _payment_context(pk, top_up_form=form))


@require_POST
@staff_view("finance.change_allocation")
def allocation_reverse_view(request, pk: int):
    allocation = get_object_or_404(Allocation.objects.select_related("invoice"), pk=pk)
    form = ReasonForm(request.POST)
    form.is_valid()
    back = _back(request, allocation)

    def undo() -> str:
        allocation_reverse(allocation=allocation, actor=Actor.from_request(request),
                           reason=form.cleaned_data.get("reason", ""))
        messages.success(request, f"Allocation of {display(allocation.amount)} to {allocation.invoice.number} "
                                  "undone.")
        return back
    return submit_button(request, undo, FinanceError, back=back)


def _back(request, allocation: Allocation) -> str:
    """Back where the Undo was clicked (the invoice page sends its own address), else the payment's page."""
    wanted = request.POST.get("next", "")
    if wanted.startswith("/") and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return wanted
    if allocation.payment_id:
        return reverse("finance:payment-detail", args=[allocation.payment_id])
    return reverse("finance:invoice-payment", args=[allocation.invoice_id])


@require_POST
@staff_view("finance.change_topup")
def top_up_remove_view(request, pk: int):
    top_up = get_object_or_404(TopUp, pk=pk)
    form = ReasonForm(request.POST)
    form.is_valid()
    back = reverse("finance:payment-detail", args=[top_up.payment_id])

    def remove() -> str:
        top_up_remove(top_up=top_up, actor=Actor.from_request(request), reason=form.cleaned_data.get("reason", ""))
        messages.success(request, f"Top-up of {display(top_up.amount)} removed; the money is back on payment "
                                  f"#{top_up.payment_id} as unallocated.")
        return back
    return submit_button(request, remove, FinanceError, back=back)


# --- Allocate ---------------------------------------------------------------------------------------------------
def _lines_from(data) -> list[tuple[str, str]]:
    """The picked invoices and their amounts: invoice=<id> (checkboxes) and amount-<id>."""
    return [(inv, data.get(f"amount-{inv}", "")) for inv in data.getlist("invoice")]


def _allocate_context(request, payment: Payment, *, error: str = "", lines=None) -> dict:
    form = InvoiceSearchForm(request.GET or None)
    filters = form.filters()
    invoices = selectors.open_invoices(customer_id=payment.customer_id, currency=payment.currency, **filters)
    picked = dict(lines or [])
    rows = [{"invoice": i, "amount": picked.get(str(i.pk)) or selectors.default_amount(payment, i),
             "checked": str(i.pk) in picked} for i in invoices]
    return {"p": payment, "form": form, "rows": rows, "error": error,
            "preview": selectors.allocation_preview(payment, lines) if lines else None}


@require_http_methods(["GET", "POST"])
@staff_view("finance.add_allocation")
def payment_allocate_view(request, pk: int):
    payment = get_object_or_404(Payment.objects.select_related("customer"), pk=pk)
    if request.method == "POST":
        lines = _lines_from(request.POST)

        def allocate() -> str:
            created = payment_allocate(payment=payment, lines=lines, actor=Actor.from_request(request))
            total = sum(a.amount for a in created)
            messages.success(request, f"{display(total)} {payment.currency} of payment #{pk} allocated to "
                                      f"{len(created)} invoice{'s' if len(created) != 1 else ''}.")
            return reverse("finance:payment-detail", args=[pk])
        try:
            return redirect(submit_once(request, allocate))
        except FinanceError as exc:
            payment.refresh_from_db()
            return render(request, "finance/payment_allocate.html",
                          _allocate_context(request, payment, error=str(exc), lines=lines))
    return render(request, htmx_template(request, "finance/payment_allocate.html", "invoice-results"),
                  _allocate_context(request, payment))


@require_GET
@staff_view("finance.view_payment")
def payment_allocate_preview(request, pk: int):
    """Read-only: what the allocation would do (rendered into the allocate page by htmx)."""
    payment = get_object_or_404(Payment.objects.select_related("customer"), pk=pk)
    lines = _lines_from(request.GET)
    preview = selectors.allocation_preview(payment, lines) if lines else None
    return render(request, "finance/payment_allocate.html#allocation-preview", {"p": payment, "preview": preview})


@require_http_methods(["GET", "POST"])
@staff_view("finance.add_allocation")
def invoice_payment(request, pk: int):
    """The invoice page's ⋯ -> Payment: pick one of the customer's (or an unassigned) payment and allocate."""
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    error = ""
    amount = request.POST.get("amount", "")
    chosen = request.POST.get("payment", "")
    if request.method == "POST":
        payment = Payment.objects.filter(pk=parse_id(chosen)).first() if parse_id(chosen) else None
        if payment is None:
            error = "Pick the payment to allocate."
        else:
            def allocate() -> str:
                payment_allocate(payment=payment, lines=[(invoice.pk, amount)], actor=Actor.from_request(request))
                messages.success(request, f"Payment #{payment.pk} allocated to {invoice.number}"
                                 + (" and the top-up provisioned." if invoice.type == InvoiceType.TOP_UP else "."))
                return reverse("finance:invoice-payment", args=[pk])
            try:
                return redirect(submit_once(request, allocate))
            except FinanceError as exc:
                error = str(exc)
    candidates = selectors.payments_for_invoice(invoice)
    rows = [{"payment": p, "amount": selectors.default_amount(p, invoice)} for p in candidates]
    allocations = list(invoice.allocations.select_related("payment").order_by("-created_at", "-id"))
    return render(request, "finance/invoice_payment.html",
                  {"invoice": invoice, "amount_due": invoice.amount_due, "rows": rows,
                   "error": error, "allocations": allocations, "chosen": chosen, "amount": amount})


# --- Credit notes ---------------------------------------------------------------------------------------------
CREDIT_NOTE_CSV = ["number", "issue_date", "customer_code", "customer", "invoice", "currency", "amount", "reason",
                   "created_by"]


def _credit_note_row(n: CreditNote) -> list:
    return [n.number, n.issue_date.isoformat(), csv_text(n.customer.code), csv_text(n.customer.name),
            n.invoice.number if n.invoice_id else "", n.currency, n.amount, csv_text(n.reason), csv_text(n.created_by)]


@require_GET
@staff_view("finance.view_creditnote")
def credit_note_list(request):
    return list_page(request, CreditNoteFilterSet(request.GET, selectors.credit_notes()), totals=("amount", "currency"),
                     template="finance/creditnote_list.html", target="credit-note-table",
                     csv_prefix="credit-notes", csv_header=CREDIT_NOTE_CSV, csv_row=_credit_note_row)


@require_http_methods(["GET", "POST"])
@staff_view("finance.add_creditnote")
def credit_note_create(request):
    initial = {}
    if invoice := from_query(request, "invoice", Invoice.objects.select_related("customer")):
        initial = {"customer": invoice.customer, "invoice_number": invoice.number, "amount": invoice.amount_outstanding}
    form = CreditNoteForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        invoice = None
        if d["invoice_number"]:
            invoice = Invoice.objects.filter(number__iexact=d["invoice_number"].strip()).first()
            if invoice is None:
                form.add_error("invoice_number", f"There is no invoice {d['invoice_number']}.")
        if not form.errors:
            def issue() -> str:
                note = credit_note_issue(customer=d["customer"], invoice=invoice, amount=d["amount"],
                                         reason=d["reason"], issue_date=d["issue_date"],
                                         actor=Actor.from_request(request))
                messages.success(request, f"Credit note {note.number} issued.")
                return reverse("finance:credit-note-detail", args=[note.pk])
            if response := submit_form(request, form, issue, FinanceError):
                return response
    return render(request, "finance/creditnote_form.html", {"form": form})


@require_GET
@staff_view("finance.view_creditnote")
def credit_note_detail(request, pk: int):
    note = get_object_or_404(CreditNote.objects.select_related("customer", "invoice"), pk=pk)
    history = list(audit_events(object_type="finance.creditnote", object_id=pk)[:20])
    return render(request, "finance/creditnote_detail.html", {"note": note, "history": history})


@require_GET
@staff_view("finance.view_creditnote")
def credit_note_pdf(request, pk: int):
    note = get_object_or_404(CreditNote.objects.select_related("customer", "invoice"), pk=pk)
    response = HttpResponse(render_credit_note_pdf(note), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{credit_note_filename(note)}"'
    return response


# --- Withdrawals ----------------------------------------------------------------------------------------------
WITHDRAWAL_CSV = ["id", "paid_date", "customer_code", "customer", "currency", "amount", "method", "reference",
                  "remark", "created_by"]


def _withdrawal_row(w: Withdrawal) -> list:
    return [w.pk, w.paid_date.isoformat(), csv_text(w.customer.code), csv_text(w.customer.name), w.currency, w.amount,
            w.method, csv_text(w.reference), csv_text(w.remark), csv_text(w.created_by)]


@require_GET
@staff_view("finance.view_withdrawal")
def withdrawal_list(request):
    return list_page(request, WithdrawalFilterSet(request.GET, selectors.withdrawals()), totals=("amount", "currency"),
                     template="finance/withdrawal_list.html", target="withdrawal-table",
                     csv_prefix="withdrawals", csv_header=WITHDRAWAL_CSV, csv_row=_withdrawal_row)


@require_http_methods(["GET", "POST"])
@staff_view("finance.add_withdrawal")
def withdrawal_create(request):
    initial = {"customer": from_query(request, "customer", Customer.objects)}
    form = WithdrawalForm(request.POST or None, initial=initial)
    position = None
    chosen = form.cleaned_data.get("customer") if form.is_bound and form.is_valid() else initial.get("customer")
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data

        def record() -> str:
            withdrawal = withdrawal_record(**d, actor=Actor.from_request(request))
            messages.success(request, f"Withdrawal of {display(withdrawal.amount)} {withdrawal.currency} to "
                                      f"{withdrawal.customer.name} recorded.")
            return reverse("finance:withdrawal-detail", args=[withdrawal.pk])
        if response := submit_form(request, form, record, FinanceError):
            return response
    if chosen is not None:
        chosen.refresh_from_db()
        position = selectors.credit_position(chosen)
    return render(request, "finance/withdrawal_form.html", {"form": form, "position": position})


@require_GET
@staff_view("finance.view_withdrawal")
def withdrawal_detail(request, pk: int):
    withdrawal = get_object_or_404(Withdrawal.objects.select_related("customer"), pk=pk)
    history = list(audit_events(object_type="finance.withdrawal", object_id=pk)[:20])
    return render(request, "finance/withdrawal_detail.html", {"w": withdrawal, "history": history})


# --- The staff invoice page (invoices:detail), composed here because it shows finance's records beside the
# invoice's own: invoices may not import finance, finance may import invoices. invoices.views.detail_context
# gives what the invoices app shows; finance adds the money applied to the invoice and the history with those
# records' events. finance/invoice_detail.html extends invoices/invoice_detail.html and fills its `money` and
# `history` blocks. Mounted by config/urls.py in invoices' namespace.
@require_GET
@staff_view("invoices.view_invoice")
def invoice_detail(request, pk: int):
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    money = invoice_money(invoice)
    return render(request, "finance/invoice_detail.html",
                  detail_context(invoice, money=money, history=money.history))
