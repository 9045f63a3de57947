"""Row locks for invoices. Lock order: customer (customers.locks) -> invoice(s) by pk -> payment."""

from collections.abc import Iterable

from .models import Invoice


def lock_invoice(invoice_id: int) -> Invoice:
    return Invoice.objects.select_for_update(of=("self",), no_key=True).get(pk=invoice_id)


def lock_invoices(invoice_ids: Iterable[int]) -> dict[int, Invoice]:
    ids = sorted(set(invoice_ids))
    return {i.pk: i for i in Invoice.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",), no_key=True)}


def lock_invoice_notification(notification_id: int):
    """The notification row of an invoice email being delivered (customers.Notification, written by this
    app's send service); locked so a redelivered task cannot send the same email twice."""
    from customers.models import Notification

    return Notification.objects.select_for_update(of=("self",), no_key=True).get(pk=notification_id, source_type="invoices.invoice")
