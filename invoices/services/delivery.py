"""Delivering an invoice email queued by invoice_send / the billing run / renewals: render the PDF, send
it through Django's email backend (console or file in development, SMTP in production), and record the
outcome on the notification. Runs after the sending transaction committed, never under a customer or
invoice lock; a redelivered task finds the notification no longer queued and sends nothing."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from customers.models import Notification
from customers.services.notifications import notification_email_send

from ..locks import lock_invoice_notification
from ..models import Invoice
from .pdf import pdf_filename, render_invoice_pdf


class DeliveryError(ValueError):
    """The notification cannot be delivered (it is not an invoice email)."""


def _body(invoice: Invoice) -> str:
    return render_to_string("invoices/email/invoice.txt", {
        "invoice": invoice, "due": invoice.amount_due, "seller": settings.LEDGERDESK_SELLER["name"]}).strip()


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
    error = notification_email_send(
        note, render=lambda: (_body(invoice), pdf_filename(invoice), render_invoice_pdf(invoice)), at=at)
    if note.status == "sent":
        Invoice.objects.filter(pk=invoice.pk).update(emailed_at=at)
    audit_record(actor=actor, action="invoices.invoice.email", app="invoices", obj=invoice,
                 customer_id=invoice.customer_id, at=at, before={"notification": note.pk, "status": "queued"},
                 after={"notification": note.pk, "status": note.status, "recipient": note.recipient}, reason=error)
    return note
