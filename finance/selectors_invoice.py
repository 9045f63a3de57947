"""The money applied to one invoice, for the invoice page (finance.views_invoice): its payments and their
allocations, the customer credit it was paid with, the monthly run's credit, its credit notes and its card
payments, in one list; and its history, the invoice's own events with those of the money applied to it.
A constant number of queries whatever the number of rows (one per kind of record, one for the history)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from customers.money import ZERO, display
from invoices.models import CreditApplication, Invoice

from .models import Allocation, CardPaymentInvoice, CardPaymentStatus, CreditNote

HISTORY_LIMIT = 100
ALLOCATION_ACTIONS = ("finance.payment.allocate", "finance.allocation.reverse")
SEVERAL_INVOICES_PAID = "finance.invoices.pay_with_credits"  # the portal's "Pay selected": about the customer


@dataclass(frozen=True)
class MoneyRow:
    """One record of money applied to (or meant for) the invoice. `counted` says whether `amount` is part of
    the invoice's amount paid or credited (a card payment is not: its credit pays the invoice through the
    allocation listed beside it)."""

    kind: str  # allocation, credit, run_credit, credit_note, card_payment
    label: str
    at: dt.datetime
    amount: Decimal
    state: str
    active: bool
    counted: bool
    record: object


@dataclass
class InvoiceMoney:
    invoice: Invoice
    rows: list[MoneyRow] = field(default_factory=list)
    history: list[AuditEvent] = field(default_factory=list)

    def _sum(self, *kinds: str) -> Decimal:
        return sum((r.amount for r in self.rows if r.kind in kinds and r.active and r.counted), ZERO)

    @property
    def paid(self) -> Decimal:
        """Active allocations (payments, customer credit) and the monthly run's credit: the invoice's
        amount_paid (check_finance holds the two equal)."""
        return self._sum("allocation", "credit", "run_credit")

    @property
    def credited(self) -> Decimal:
        return self._sum("credit_note")

    @property
    def agrees(self) -> bool:
        return self.paid == self.invoice.amount_paid and self.credited == self.invoice.amount_credited


def _summary(event: AuditEvent, invoice: Invoice) -> str:
    """What an event did to this invoice, in a few words (an allocation event may name other invoices)."""
    after = event.after or {}
    if event.action == "finance.payment.allocate":
        mine = [a for a in after.get("allocations", []) if a.get("invoice") == invoice.number]
        amount = sum((Decimal(str(a.get("amount", "0"))) for a in mine), ZERO)
        return f"Payment #{event.object_id}: {display(amount)} {invoice.currency} allocated to this invoice"
    if event.action == SEVERAL_INVOICES_PAID:
        mine = [i for i in after.get("invoices", []) if i.get("invoice") == invoice.number]
        amount = sum((Decimal(str(i.get("amount", "0"))) for i in mine), ZERO)
        return f"Paid with the customer's credits, with other invoices: {display(amount)} {invoice.currency} for this one"
    if event.action == "finance.allocation.reverse":
        source = f"Payment #{event.object_id}" if event.object_type == "finance.payment" else "Customer credit"
        return (f"{source}: allocation #{after.get('allocation')} of "
                f"{display(Decimal(str(after.get('amount', '0'))))} {invoice.currency} undone")
    return event.object_label or ""


def invoice_money(invoice: Invoice) -> InvoiceMoney:
    """Everything applied to the invoice, oldest first, and its history (five queries)."""
    allocations = list(Allocation.objects.filter(invoice=invoice).select_related("payment", "top_up")
                       .order_by("created_at", "id"))
    notes = list(CreditNote.objects.filter(invoice=invoice).order_by("created_at", "id"))
    run_credit = list(CreditApplication.objects.filter(invoice=invoice).order_by("created_at", "id"))
    cards = list(CardPaymentInvoice.objects.filter(invoice=invoice).select_related("card_payment")
                 .order_by("card_payment__created_at", "id"))
    rows: list[MoneyRow] = []
    for a in allocations:
        if a.payment_id:
            label = f"Payment #{a.payment_id} allocated"
            if getattr(a, "top_up", None) is not None:
                label += " (provisioned as credits)"
        else:
            label = "Paid from the customer's credit"
        state = f"Undone: {a.reversal_reason}" if a.reversed_at and a.reversal_reason else (
            "Undone" if a.reversed_at else "Active")
        rows.append(MoneyRow("allocation" if a.payment_id else "credit", label, a.created_at, a.amount, state,
                             a.reversed_at is None, True, a))
    for c in run_credit:
        rows.append(MoneyRow("run_credit", f"Customer credit applied by the monthly run ({c.get_source_display()})",
                             c.created_at, c.amount, "Active", True, True, c))
    for n in notes:
        rows.append(MoneyRow("credit_note", f"Credit note {n.number}", n.created_at, n.amount, n.reason, True, True,
                             n))
    for link in cards:
        p = link.card_payment
        state = p.get_status_display()
        if p.status == CardPaymentStatus.SUCCEEDED:
            state = (f"Paid; {display(link.amount_paid)} of it paid this invoice (allocation listed)" if link.amount_paid
                     else "Paid; kept as credit on the account")
        rows.append(MoneyRow("card_payment", f"Card payment #{p.pk}" + (
            f" ({p.card_brand.title()} ending {p.card_last4})" if p.card_last4 else ""), p.created_at,
            p.amount_charged, state, p.status == CardPaymentStatus.SUCCEEDED, False, p))
    rows.sort(key=lambda r: r.at)
    history = list(invoice_history(invoice, allocations=allocations, notes=notes,
                                   card_payment_ids=[c.card_payment_id for c in cards]))
    for event in history:
        event.summary = _summary(event, invoice)
    return InvoiceMoney(invoice=invoice, rows=rows, history=history)


def invoice_history(invoice: Invoice, *, allocations: list[Allocation], notes: list[CreditNote],
                    card_payment_ids: list[int], limit: int = HISTORY_LIMIT) -> QuerySet[AuditEvent]:
    """The invoice's audit events and those of the money applied to it, newest first, in one query (each
    branch an index range of audit_object_idx): allocating a payment to it or undoing that (events about
    the payment that name this invoice, or about a credit allocation), the portal's payment of several
    invoices with credits that included it (an event about the customer), its credit notes, its card
    payments."""
    payment_ids = sorted({str(a.payment_id) for a in allocations if a.payment_id})
    names_invoice = Q(after__allocations__contains=[{"invoice": invoice.number}]) | Q(after__invoice=invoice.number)
    where = Q(object_type="invoices.invoice", object_id=str(invoice.pk))
    if payment_ids:
        where |= Q(object_type="finance.payment", object_id__in=payment_ids, action__in=ALLOCATION_ACTIONS) & names_invoice
    if allocations:
        where |= Q(object_type="customers.customer", object_id=str(invoice.customer_id), action=SEVERAL_INVOICES_PAID,
                   after__invoices__contains=[{"invoice": invoice.number}])
    credit_allocations = [str(a.pk) for a in allocations if not a.payment_id]
    if credit_allocations:
        where |= Q(object_type="finance.allocation", object_id__in=credit_allocations)
    if notes:
        where |= Q(object_type="finance.creditnote", object_id__in=[str(n.pk) for n in notes])
    if card_payment_ids:
        where |= Q(object_type="finance.cardpayment", object_id__in=[str(i) for i in card_payment_ids])
    return AuditEvent.objects.filter(where).order_by("-id")[:limit]
