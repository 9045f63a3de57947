"""The receipt of a paid card payment as a PDF (WeasyPrint), on the shared document layout
templates/pdf/base.html, as finance/payments/pdf.py renders credit notes. A read, not a write."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from ..models import CardPayment
from .selectors import receipt, receipt_filename


def receipt_pdf_html(payment: CardPayment) -> str:
    return render_to_string("finance/card_receipt_pdf.html", {"receipt": receipt(payment),
                                                                "seller": settings.LEDGERDESK_SELLER})


def render_receipt_pdf(payment: CardPayment) -> bytes:
    from weasyprint import HTML  # imported on use: it loads Pango and fonts, which pages never need

    return HTML(string=receipt_pdf_html(payment), base_url=str(settings.BASE_DIR)).write_pdf()


__all__ = ["receipt_filename", "receipt_pdf_html", "render_receipt_pdf"]
