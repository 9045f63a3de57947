"""Reads for the payments pages: the lists (payments, credit notes, withdrawals) with their filters, the payment
page, invoices a payment can be allocated to, the allocation preview, and the money applied to one invoice for
the invoice page (its payments and allocations, customer credit, the monthly run's credit, credit notes and
card payments, with its history: a constant number of queries whatever the number of rows). Nothing here
writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Q,
    QuerySet,
)

from audit.models import AuditEvent
from customers.models import Customer, InvoiceSetup, card_label
from customers.money import ZERO, display
from customers.selectors import usable_credits_if
from invoices.models import OPEN_STATUSES, CreditApplication, Invoice, InvoiceStatus, InvoiceType

from ..models import Allocation, CardPaymentInvoice, CardPaymentStatus, CreditNote, Payment, TopUp, Withdrawal
from ..selectors import CreditPosition, credit_position


# --- Payments -----------------------------------------------------------------------------------------------
def payments() -> QuerySet[Payment]:
    """The payment list, newest first (finance.payments.filters.PaymentFilterSet filters it)."""
    return Payment.objects.select_related("customer").order_by("-received_date", "-id")


@dataclass
class PaymentPage:
    payment: Payment
    allocations: list[Allocation]
    top_ups: list[TopUp]
    position: CreditPosition | None = None


def payment_page(payment_id: int) -> PaymentPage:
    payment = Payment.objects.select_related("customer").get(pk=payment_id)
    allocations = list(payment.allocations.select_related("invoice", "top_up").order_by("-created_at", "-id"))
    top_ups = list(payment.top_ups.select_related("invoice").order_by("-created_at", "-id"))
    position = credit_position(payment.customer) if payment.customer_id else None
    return PaymentPage(payment=payment, allocations=allocations, top_ups=top_ups, position=position)


# --- Allocation: open invoices and the preview ---------------------------------------------------------------
def open_invoices(*, customer_id: int | None = None, currency: str = "", q: str = "",
                  issued_from: dt.date | None = None, issued_to: dt.date | None = None,
                  limit: int = 50) -> list[Invoice]:
    """Invoices that can take money: awaiting payment or partially paid (top-up invoices only when sent and
    not provisioned), found by organization name, invoice number and issued date."""
    qs = (Invoice.objects.select_related("customer").filter(status__in=OPEN_STATUSES)
          .exclude(type=InvoiceType.TOP_UP, provisioned_at__isnull=False))
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if currency:
        qs = qs.filter(currency=currency)
    if q:
        term = q.strip()
        qs = qs.filter(Q(customer__name__icontains=term) | Q(customer__code__icontains=term)
                       | Q(number__icontains=term) | Q(name__icontains=term))
    if issued_from:
        qs = qs.filter(issue_date__gte=issued_from)
    if issued_to:
        qs = qs.filter(issue_date__lte=issued_to)
    return list(qs.order_by("due_date", "id")[:limit])


@dataclass
class PreviewLine:
    invoice: Invoice
    amount: Decimal
    outstanding_before: Decimal
    outstanding_after: Decimal
    becomes: str  # the invoice's status after

    @property
    def becomes_label(self) -> str:
        if self.invoice.type == InvoiceType.TOP_UP:
            return "Paid and provisioned"
        return InvoiceStatus(self.becomes).label


@dataclass
class AllocationPreview:
    payment: Payment
    customer: Customer | None
    lines: list[PreviewLine] = field(default_factory=list)
    total: Decimal = ZERO
    error: str = ""
    assigns: bool = False
    figures_before: dict[str, Decimal] = field(default_factory=dict)
    figures_after: dict[str, Decimal] = field(default_factory=dict)
    payment_unallocated_after: Decimal = ZERO


def _figures(*, unbilled: Decimal, due: Decimal, usable: Decimal) -> dict[str, Decimal]:
    return {"expecting_invoice": unbilled, "amount_due": due, "current_balance": unbilled + due, "usable_credits": usable}


def allocation_preview(payment: Payment, raw_lines: Sequence[tuple[object, object]]) -> AllocationPreview:
    """What "Assign & allocate" would do, computed without writing or locking: which invoices become paid
    (or provisioned) and the customer's figures after. Refusals are the service's own (finance.rules)."""
    from ..rules import AllocationError, check_allocation, normalise_lines

    preview = AllocationPreview(payment=payment, customer=payment.customer)
    try:
        lines = normalise_lines(raw_lines)
        invoices = {i.pk: i for i in Invoice.objects.select_related("customer").filter(pk__in=[i for i, _ in lines])}
        customers = {i.customer_id for i in invoices.values()}
        if len(customers) > 1:
            raise AllocationError("The invoices belong to different customers; allocate to one customer's "
                                  "invoices at a time.")
        if len(invoices) != len(lines):
            raise AllocationError("One of the invoices does not exist.")
        customer = next(iter(invoices.values())).customer
        preview.customer = customer
        preview.total = check_allocation(payment, customer, invoices, lines)
    except AllocationError as exc:
        preview.error = str(exc)
        return preview
    from invoices.settlement import status_for

    unbilled, due = customer.amount_unbilled, customer.amount_due
    preview.figures_before = _figures(unbilled=unbilled, due=due, usable=customer.usable_credits)
    if payment.customer_id is None:
        preview.assigns = True
        due += payment.amount
    for invoice_id, amount in lines:
        invoice = invoices[invoice_id]
        before = invoice.amount_outstanding
        preview.lines.append(PreviewLine(invoice=invoice, amount=amount, outstanding_before=before,
                                         outstanding_after=before - amount,
                                         becomes=status_for(invoice.total, invoice.amount_paid + amount,
                                                            invoice.amount_credited)))
        if invoice.type == InvoiceType.TOP_UP and customer.invoice_setup != InvoiceSetup.INDIVIDUAL:
            due -= amount
            unbilled += amount
    preview.figures_after = _figures(unbilled=unbilled, due=due,
                                     usable=usable_credits_if(customer, amount_unbilled=unbilled, amount_due=due))
    preview.payment_unallocated_after = payment.amount_unallocated - preview.total
    return preview


def default_amount(payment: Payment, invoice: Invoice) -> Decimal:
    """The prefilled amount: the smaller of what is left on the payment and on the invoice (a top-up
    invoice takes its whole outstanding amount or nothing)."""
    if invoice.type == InvoiceType.TOP_UP:
        return invoice.amount_outstanding
    return max(min(payment.amount_unallocated, invoice.amount_outstanding), ZERO)


def payments_for_invoice(invoice: Invoice) -> list[Payment]:
    """Payments that can pay this invoice: the customer's, or unassigned ones in its currency, with money
    left to allocate; for a top-up invoice, which is paid in full or not at all (default_amount), only those
    with its whole outstanding amount left."""
    qs = (Payment.objects.select_related("customer")
          .filter(Q(customer_id=invoice.customer_id) | Q(customer__isnull=True),
                  currency=invoice.currency).with_cash_left())
    if invoice.type == InvoiceType.TOP_UP:
        qs = qs.filter(unallocated__gte=invoice.amount_outstanding)
    return list(qs.order_by("customer_id", "-received_date", "-id")[:100])


# --- Credit notes and withdrawals -----------------------------------------------------------------------
def credit_notes() -> QuerySet[CreditNote]:
    """The credit note list, newest first (finance.payments.filters.CreditNoteFilterSet filters it)."""
    return CreditNote.objects.select_related("customer", "invoice").order_by("-issue_date", "-id")


def withdrawals() -> QuerySet[Withdrawal]:
    """The withdrawal list, newest first (finance.payments.filters.WithdrawalFilterSet filters it)."""
    return Withdrawal.objects.select_related("customer").order_by("-paid_date", "-id")


# --- The invoice page's money section (payments.views.invoice_detail) ---------------------------------------
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
        card = card_label(p.card_brand, p.card_last4)
        rows.append(MoneyRow("card_payment", f"Card payment #{p.pk}" + (f" ({card})" if card else ""), p.created_at,
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
