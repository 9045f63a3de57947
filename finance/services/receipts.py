"""The receipt email of a paid card payment: queued in the fulfilment's transaction (a customers.Notification,
kind payment_receipt, status queued, the body rendered from finance/templates/finance/email/card_receipt.txt) and
delivered right after commit, with the receipt PDF attached, never while a lock is held. As with invoice
emails, the notification row is created directly: the fulfilment records the one audit event of its
transaction, and the delivery records its own."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.template.loader import render_to_string

from audit.actors import Actor
from audit.services import audit_record
from customers.models import Customer, Notification, NotificationKind
from customers.money import display
from customers.services.notifications import notification_email_send

from ..cards.receipts import render_receipt_pdf
from ..cards.selectors import receipt, receipt_filename
from ..models import CardPayment, CardPaymentChannel
from ._common import FinanceError, when

logger = logging.getLogger(__name__)

APP = "finance"
SOURCE_TYPE = "finance.cardpayment"
RECEIPT_JOB = "card-receipt"


class ReceiptError(FinanceError):
    """The notification is not a card receipt waiting to be sent."""


def _receipt_body(payment: CardPayment) -> str:
    shown = receipt(payment)
    return render_to_string("finance/email/card_receipt.txt", {"receipt": shown, "amount": display(shown.amount)})


def _queue_receipt_email(payment: CardPayment, customer: Customer, *, at: dt.datetime) -> Notification | None:
    """Called by the card fulfilment, inside its transaction, once the payment is credited: a Checkout
    payment's receipt is emailed to the billing address after commit. An automatic top-up's customer gets
    the auto top-up notice instead (its receipt is on the Payments page); no billing email: nothing."""
    if payment.channel != CardPaymentChannel.CHECKOUT or not customer.billing_email:
        return None
    try:
        with transaction.atomic():  # a receipt that cannot be written never holds up the credit itself
            shown = receipt(payment)
            note = Notification.objects.create(
                customer=customer, kind=NotificationKind.PAYMENT_RECEIPT, channel="email",
                recipient=customer.billing_email,
                subject=render_to_string("finance/email/card_receipt_subject.txt", {"receipt": shown}).strip()[:200],
                body=_receipt_body(payment), status="queued", source_type=SOURCE_TYPE, source_id=payment.pk,
                sent_at=at)
    except Exception:  # logged; the receipt stays downloadable from the Payments page
        logger.exception("Card payment %s: receipt email not queued", payment.pk)
        return None
    transaction.on_commit(
        lambda: card_receipt_email_deliver(notification_id=note.pk, actor=Actor.system(RECEIPT_JOB)), robust=True)
    return note


@transaction.atomic
def card_receipt_email_deliver(*, notification_id: int, actor: Actor, at: dt.datetime | None = None) -> Notification:
    """Send a queued card receipt once, with its PDF: queued -> sent (or failed, with the mail server's or
    the renderer's error kept on the notification). Called again it finds it no longer queued and sends
    nothing."""
    at = when(at)
    note = (Notification.objects.select_for_update(of=("self",), no_key=True)
            .filter(pk=notification_id, kind=NotificationKind.PAYMENT_RECEIPT, source_type=SOURCE_TYPE).first())
    if note is None:
        raise ReceiptError(f"There is no card receipt email #{notification_id}.")
    if note.status != "queued":
        return note
    payment = CardPayment.objects.select_related("customer", "invoice").get(pk=note.source_id)
    error = notification_email_send(
        note, render=lambda: (note.body, receipt_filename(payment), render_receipt_pdf(payment)), at=at)
    audit_record(actor=actor, action="finance.card_payment.receipt_email", app=APP, obj=payment,
                 customer_id=payment.customer_id, before={"notification": note.pk, "status": "queued"},
                 after={"notification": note.pk, "status": note.status, "recipient": note.recipient}, reason=error, at=at)
    return note
