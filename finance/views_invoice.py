"""The staff invoice page (invoices:detail), composed here because it shows finance's records beside the
invoice's own: invoices may not import finance, finance may import invoices. invoices.views.detail_context
gives what the invoices app shows; finance adds the money applied to the invoice (payments and their
allocations, customer credit, the monthly run's credit, credit notes, card payments) and the history with
those records' events. The template, finance/invoice_detail.html, extends invoices/invoice_detail.html and
fills its `money` and `history` blocks. Mounted by config/urls.py in invoices' namespace."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from common.permissions import staff_view
from invoices.models import Invoice
from invoices.views import detail_context

from .selectors_invoice import invoice_money


@require_GET
@staff_view("invoices.view_invoice")
def invoice_detail(request, pk: int):
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    money = invoice_money(invoice)
    return render(request, "finance/invoice_detail.html",
                  detail_context(invoice, money=money, history=money.history))
