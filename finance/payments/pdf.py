"""The credit-note PDF (WeasyPrint), on the shared document layout templates/pdf/base.html. A read, not a
write; amounts are formatted with the same `money` filter as the pages."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from ..models import CreditNote


def credit_note_pdf_html(note: CreditNote) -> str:
    return render_to_string("finance/creditnote_pdf.html", {"note": note, "seller": settings.LEDGERDESK_SELLER})


def render_credit_note_pdf(note: CreditNote) -> bytes:
    from weasyprint import HTML  # imported on use: it loads Pango and fonts, which pages never need

    return HTML(string=credit_note_pdf_html(note), base_url=str(settings.BASE_DIR)).write_pdf()


def credit_note_filename(note: CreditNote) -> str:
    return f"{note.number}.pdf"
