"""The log of what was sent to a customer (invoice, 2FA code, verification email, subscription notice,
top-up, payment receipt). Higher apps call `notification_record` when they send something.

It is audited like every other write: what a customer was told, and when, is part of the trail a finance
team is asked about ("we never got the invoice")."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from audit.actors import Actor
from audit.services import audit_record

from ..models import Notification, NotificationKind
from ._common import locked_customer

CHANNELS = {"email", "sms"}
STATUSES = {"sent", "failed", "queued"}
AUDIT_EXEMPT = {
    "notification_email_send": "primitive run inside the caller's delivery service (invoice email, card "
                               "receipt), which holds the notification's lock and records the one audit event",
}

log = logging.getLogger(__name__)


class NotificationError(ValueError):
    """A notification record that cannot be kept; the message says why."""


@transaction.atomic
def notification_record(
    *,
    customer_id: int,
    kind: str,
    recipient: str,
    subject: str,
    actor: Actor,
    at: dt.datetime,
    channel: str = "email",
    status: str = "sent",
    body: str = "",
    source_type: str = "",
    source_id: int | None = None,
) -> Notification:
    if kind not in NotificationKind.values:
        raise NotificationError(f"Unknown notification kind {kind!r}.")
    if channel not in CHANNELS:
        raise NotificationError("The channel is email or sms.")
    if status not in STATUSES:
        raise NotificationError("The status is sent, failed or queued.")
    recipient = (recipient or "").strip()
    subject = (subject or "").strip()
    if not recipient or len(recipient) > 254:
        raise NotificationError("The recipient is required (at most 254 characters).")
    if not subject:
        raise NotificationError("The subject is required.")
    customer = locked_customer(customer_id, NotificationError)
    note = Notification.objects.create(customer=customer, kind=kind, channel=channel, recipient=recipient,
                                       subject=subject[:200], body=body, status=status, source_type=source_type,
                                       source_id=source_id, sent_at=at)
    audit_record(actor=actor, action="customers.notification.record", app="customers", obj=note,
                 customer_id=customer.pk,
                 after={"kind": kind, "channel": channel, "recipient": recipient, "subject": note.subject,
                        "status": status, "source_type": source_type, "source_id": source_id}, at=at)
    return note


def notification_email_send(note: Notification, *, render: Callable[[], tuple[str, str, bytes]],
                            at: dt.datetime) -> str:
    """Send a queued email notification with its PDF attached and record the outcome on it: status sent, or
    failed with the mail server's or the renderer's error kept as its body; sent_at = `at`. `render`
    returns (body, PDF filename, PDF bytes) and runs inside the attempt, so a renderer's failure is recorded
    like a mail server's. The caller holds the notification's row lock, has checked it is still queued and
    records the audit event (with the returned error, "" when sent)."""
    error = ""
    try:
        body, filename, content = render()
        message = EmailMessage(subject=note.subject, body=body, to=[note.recipient],
                               from_email=settings.DEFAULT_FROM_EMAIL)
        message.attach(filename, content, "application/pdf")
        message.send(fail_silently=False)
        status = "sent"
    except Exception as exc:  # the mail server's or the renderer's failure is recorded, not raised
        log.exception("Email notification %s failed", note.pk)
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
    Notification.objects.filter(pk=note.pk).update(status=status, sent_at=at, body=error or note.body)
    note.refresh_from_db()
    return error
