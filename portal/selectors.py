"""Portal reads. Every query is scoped to the signed-in customer: an id that belongs to another customer
is not found (404), never shown."""

from __future__ import annotations

from django.db.models import Count, QuerySet, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404

from audit.actors import ActorKind
from audit.models import AuditEvent
from common.times import local_time, local_time_iso, time_zone_shown  # noqa: F401 - the portal's pages and CSVs
from customers.models import Customer, Notification, Transaction, TransactionKind
from customers.money import ZERO
from customers.services.wallet import LEGACY_TRANSFER_PREFIX, TRANSFER_REFERENCE
from finance.models import CardPayment, CardPaymentStatus
from invoices.models import OPEN_STATUSES, Invoice, InvoiceStatus, InvoiceType
from invoices.services.pdf import pdf_filename, render_invoice_pdf

from . import audit_visibility

LATEST_TRANSACTIONS = 100
HOME_TRANSACTIONS = 8
HOME_INVOICES = 5


def invoices_visible(customer: Customer) -> QuerySet[Invoice]:
    """The customer's invoices as the portal shows them: never drafts (not issued yet)."""
    return Invoice.objects.filter(customer=customer).exclude(status=InvoiceStatus.DRAFT)


def invoice_list(customer: Customer) -> QuerySet[Invoice]:
    """The Invoices tab, newest first (portal.filters.InvoiceFilterSet filters it)."""
    return invoices_visible(customer).order_by("-issue_date", "-id")


def invoice_for_customer(customer: Customer, invoice_id: int) -> Invoice:
    """One of the customer's issued invoices, or 404 (another customer's id included)."""
    return get_object_or_404(invoices_visible(customer), pk=invoice_id)


def open_invoices(customer: Customer, limit: int = HOME_INVOICES) -> list[Invoice]:
    return list(invoices_visible(customer).filter(status__in=OPEN_STATUSES).order_by("due_date", "id")[:limit])


def is_payable_in_portal(invoice: Invoice) -> bool:
    """The `$` icon: purchase invoices still owed. Monthly and top-up invoices are not paid in the portal."""
    return invoice.type == InvoiceType.PURCHASE and invoice.status in OPEN_STATUSES


def transactions(customer: Customer) -> QuerySet[Transaction]:
    """The customer's transactions, zero amounts left out, newest first (portal.filters.TransactionFilterSet
    filters them)."""
    return Transaction.objects.filter(customer=customer).exclude(amount=ZERO).order_by("-occurred_at", "-id")


def latest_transactions(qs: QuerySet[Transaction], *, limit: int = LATEST_TRANSACTIONS) -> list[Transaction]:
    """The latest of `qs` (transactions, filtered), each with what the customer reads of it:
    `.reference_shown` (reference_shown) and `.text` (its description, else that reference)."""
    rows = list(qs[:limit])
    for row in rows:
        row.reference_shown = reference_shown(row)
        row.text = row.description or row.reference_shown
    return rows


def reference_shown(row: Transaction) -> str:
    """The reference the customer reads: the stored one, except a master account transfer stored before
    issue 19 with the default reference "From <our wallet's name>", which reads "Top-up from master account"
    (ledger rows are immutable: the stored row stays as it is, for staff)."""
    if row.kind == TransactionKind.TRANSFER and row.reference.startswith(LEGACY_TRANSFER_PREFIX):
        return TRANSFER_REFERENCE
    return row.reference


def transaction_totals_by_kind(customer: Customer, *, limit: int = LATEST_TRANSACTIONS) -> list[dict]:
    """The latest transactions grouped by type: how many and how much, for each type (one query)."""
    latest = (Transaction.objects.filter(customer=customer).exclude(amount=ZERO)
              .order_by("-occurred_at", "-id").values("id")[:limit])
    rows = (Transaction.objects.filter(pk__in=latest).values("kind")
            .annotate(count=Count("id"), total=Sum("amount")).order_by("kind"))
    labels = dict(Transaction._meta.get_field("kind").choices)
    return [{"kind": r["kind"], "label": labels.get(r["kind"], r["kind"]), "count": r["count"], "total": r["total"]}
            for r in rows]


def notifications(customer: Customer) -> QuerySet[Notification]:
    """The customer's notifications, newest first (portal.filters.NotificationFilterSet filters them)."""
    return Notification.objects.filter(customer=customer).order_by("-sent_at", "-id")


def audit_trail(customer: Customer) -> QuerySet[AuditEvent]:
    """The audit events about this customer that the portal shows them (portal.audit_visibility: the
    allow-list of actions and fields, never a draft's), newest first. portal.filters.AuditFilterSet's search
    looks at the action's label and the object's stored text, of which the page shows a customer-worded
    label (audit_visibility.OBJECTS), so a search may match text the page words differently (e.g. a
    payment's "#12"); it never shows a hidden event or field."""
    return AuditEvent.objects.filter(customer_id=customer.pk).filter(audit_visibility.visible()).order_by("-id")


def card_payments(customer: Customer) -> QuerySet[CardPayment]:
    """The customer's card payment history: paid, failed and those still in flight (awaiting payment).
    Cancelled and expired ones took no money and leave the history (they stay in the audit trail)."""
    return (CardPayment.objects.filter(customer=customer)
            .exclude(status__in=[CardPaymentStatus.CANCELLED, CardPaymentStatus.EXPIRED])
            .select_related("invoice").order_by("-created_at", "-id"))



def invoice_pdf_response(invoice: Invoice) -> HttpResponse:
    """The invoice's PDF as a download, rendered by the invoices app."""
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(invoice)}"'
    return response


ACTOR_SHOWN = {
    ActorKind.STAFF: "Finance team",
    ActorKind.SYSTEM: "Scheduled job",
    ActorKind.STRIPE: "Stripe (card payments)",
    ActorKind.API: "Telephony platform",
    ActorKind.ANONYMOUS: "Anonymous",
}


def actor_shown(event: AuditEvent, customer: Customer) -> str:
    """Who did it, as the customer may see it: their own users by name, everyone else by role."""
    if event.actor_kind == ActorKind.CUSTOMER:
        return event.actor_label
    return ACTOR_SHOWN.get(event.actor_kind, event.actor_kind)


def what(event: AuditEvent) -> str:
    """The action in the customer's words (`Master account transfer`)."""
    return audit_visibility.label(event.action)


def object_shown(event: AuditEvent, customer: Customer) -> str:
    """The event's object in the customer's words (portal.audit_visibility.OBJECTS): no row ids."""
    return audit_visibility.object_shown(event.object_type, event.object_repr, customer.currency)


def changes(event: AuditEvent, customer: Customer) -> list[tuple[str, str, str]]:
    """(label, before, after) of each field the customer may see (portal.audit_visibility)."""
    return audit_visibility.changes(event.action, event.before, event.after, customer.currency)


def changes_text(event: AuditEvent, customer: Customer) -> str:
    return "; ".join(f"{k}: {b} -> {a}" if b != "" else f"{k}: {a}" for k, b, a in changes(event, customer))
