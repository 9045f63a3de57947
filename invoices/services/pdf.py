"""The invoice PDF (WeasyPrint): a read, not a write. The figures come from selectors.invoice_figures and
are formatted with the same `money` filter as the page, so the PDF and the page agree to the last digit."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from ..models import Invoice
from ..selectors import invoice_figures, invoice_lines

AUDIT_EXEMPT = {
    "invoice_pdf_html": "a read: renders the PDF's HTML, writes nothing",
    "render_invoice_pdf": "a read: renders the PDF, writes nothing",
    "pdf_filename": "pure helper: names the file, writes nothing",
}


def invoice_pdf_html(invoice: Invoice) -> str:
    return render_to_string("invoices/invoice_pdf.html", {
        "invoice": invoice, "lines": invoice_lines(invoice), "figures": invoice_figures(invoice),
        "seller": settings.LEDGERDESK_SELLER})


def render_invoice_pdf(invoice: Invoice) -> bytes:
    from weasyprint import HTML  # imported on use: it loads Pango and fonts, which pages never need

    return HTML(string=invoice_pdf_html(invoice), base_url=str(settings.BASE_DIR)).write_pdf()


def pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"
