"""Credit notes: against an invoice (reduces what it still owes; a credit note for everything still owed
on an unpaid invoice cancels it: status void) or as account credit. Gapless numbers CN-<year>-NNNNNN taken
in the same transaction as the save.

Ledger (DESIGN.md, decided): CREDIT_NOTE +amount on `due` either way; against an invoice also
invoices.settlement.credit(invoice, amount)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record
from customers import ledger
from customers.ledger import Entry
from customers.locks import lock_customer
from customers.models import Customer, TransactionKind
from customers.money import display
from invoices import settlement
from invoices.locks import lock_invoice
from invoices.models import OPEN_STATUSES, Invoice, InvoiceStatus, InvoiceType
from invoices.numbering import next_number

from ..models import CreditNote
from ._common import FinanceError, checked_amount, label, when

SOURCE = "finance.creditnote"


class CreditNoteError(FinanceError):
    """A credit note refused; nothing was changed (and no number was taken)."""


@transaction.atomic
def credit_note_issue(*, customer: Customer, amount: object, reason: str, invoice: Invoice | None = None,
                      currency: str = "", issue_date: dt.date | None = None, actor: Actor,
                      at: dt.datetime | None = None) -> CreditNote:
    """Issue a credit note to `customer`, against `invoice` (one of theirs, still owed) or as account credit."""
    at = when(at)
    amount = checked_amount(amount, error=CreditNoteError)
    reason = (reason or "").strip()
    if not reason:
        raise CreditNoteError("Give the reason for the credit note; it is printed on it.")
    issue_date = issue_date or timezone.localdate(at)
    if issue_date > timezone.localdate(at):
        raise CreditNoteError("The issue date cannot be in the future.")
    customer = lock_customer(customer.pk)
    currency = (currency or customer.currency).upper()
    if currency != customer.currency:
        raise CreditNoteError(f"{customer.name} is billed in {customer.currency}; a credit note in {currency} "
                              "cannot be issued to them.")
    before = {"amount_due": customer.amount_due}
    if invoice is not None:
        invoice = lock_invoice(invoice.pk)
        if invoice.customer_id != customer.pk:
            raise CreditNoteError(f"Invoice {invoice.number} belongs to another customer.")
        if invoice.type == InvoiceType.TOP_UP:
            raise CreditNoteError(f"{invoice.number} is a top-up invoice: it asks for a deposit and is not a "
                                  "debt; void it (while unpaid) instead of crediting it.")
        if invoice.currency != currency:
            raise CreditNoteError(f"Invoice {invoice.number} is in {invoice.currency}, not {currency}.")
        if invoice.status not in OPEN_STATUSES:
            raise CreditNoteError(f"Invoice {invoice.number} is {invoice.status_label.lower()}; a credit "
                                  "note can only reduce an invoice that is still owed.")
        if amount > invoice.amount_outstanding:
            raise CreditNoteError(f"Invoice {invoice.number} has only {display(invoice.amount_outstanding)} outstanding; "
                                  f"a credit note of {display(amount)} would exceed it (issue account credit for the rest).")
        before.update(invoice_status=invoice.status, invoice_amount_credited=invoice.amount_credited)
    note = CreditNote.objects.create(number=next_number("CN", issue_date.year), customer=customer, invoice=invoice,
                                     currency=currency, amount=amount, reason=reason[:255], issue_date=issue_date,
                                     created_at=at, created_by=label(actor))
    if invoice is not None:
        settlement.credit(invoice, amount, at=at)
    ledger.post(customer, [Entry(kind=TransactionKind.CREDIT_NOTE, amount=amount, reference=note.number,
                                 description=f"Credit note {note.number}"
                                 + (f" against {invoice.number}" if invoice else " (account credit)"),
                                 source_type=SOURCE, source_id=note.pk)], at=at)
    after = {"number": note.number, "amount": amount, "amount_due": customer.amount_due}
    if invoice is not None:
        after.update(invoice=invoice.number, invoice_status=InvoiceStatus(invoice.status).value,
                     invoice_amount_credited=invoice.amount_credited)
    audit_record(actor=actor, app="finance", action="finance.credit_note.issue", obj=note,
                 customer_id=customer.pk, at=at, before=before, after=after, reason=reason)
    return note
