"""Delivering an invoice email queued by invoice_send / the billing run / renewals: render the PDF, send
it through Django's email backend (console or file in development, SMTP in production), and record the
outcome on the notification. Runs after the sending transaction committed, never under a customer or
invoice lock; a redelivered task finds the notification no longer queued and sends nothing."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from customers.models import Notification

from ..locks import lock_invoice_notification
from ..models import Invoice
from ..selectors import amount_due
from .pdf import pdf_filename, render_invoice_pdf

log = logging.getLogger(__name__)


class DeliveryError(ValueError):
    """The notification cannot be delivered (it is not an invoice email)."""


def _body(invoice: Invoice) -> str:
    return render_to_string("invoices/email/invoice.txt", {
        "invoice": invoice, "due": amount_due(invoice), "seller": settings.LEDGERDESK_SELLER["name"]}).strip()


@transaction.atomic
def invoice_email_deliver(*, notification_id: int, actor: Actor, at: dt.datetime | None = None) -> Notification:
    """Send the queued invoice email once: status queued -> sent (or failed, with the error)."""
    at = at or timezone.now()
    try:
        note = lock_invoice_notification(notification_id)
    except Notification.DoesNotExist:
        raise DeliveryError(f"There is no invoice email #{notification_id}.")
    if note.status != "queued":
        return note
    invoice = Invoice.objects.select_related("customer").get(pk=note.source_id)
    error = ""
    try:
        message = EmailMessage(subject=note.subject, body=_body(invoice), to=[note.recipient],
                               from_email=settings.DEFAULT_FROM_EMAIL)
        message.attach(pdf_filename(invoice), render_invoice_pdf(invoice), "application/pdf")
        message.send(fail_silently=False)
        status = "sent"
    except Exception as exc:  # the mail server's or the renderer's failure is recorded, not raised
        log.exception("Invoice email %s failed", notification_id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
    Notification.objects.filter(pk=note.pk).update(status=status, sent_at=at,
                                                   body=error or note.body)
    if status == "sent":
        Invoice.objects.filter(pk=invoice.pk).update(emailed_at=at)
    note.refresh_from_db()
    audit_record(actor=actor, action="invoices.invoice.email", app="invoices", obj=invoice,
                 customer_id=invoice.customer_id, at=at, before={"notification": note.pk, "status": "queued"},
                 after={"notification": note.pk, "status": status, "recipient": note.recipient}, reason=error)
    return note
