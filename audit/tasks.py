"""Celery tasks: one call each."""

from celery import shared_task

from .sealing import email_anchor, seal_all


@shared_task(name="audit.tasks.seal_audit_trail")
def seal_audit_trail() -> int:
    """Beat, every 30 s: seal the committed audit events into their chains and anchor the heads that moved."""
    return seal_all()


@shared_task(name="audit.tasks.email_audit_anchor")
def email_audit_anchor() -> int:
    """Beat, daily: mail every chain head to settings.AUDIT_ANCHOR_EMAILS (nothing when it is empty)."""
    return email_anchor()
