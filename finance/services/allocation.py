"""Allocating payments (and customer credit) to invoices, and undoing an allocation.

An allocation only says which invoice the money settles: for purchase and monthly invoices it changes no
ledger figure, it calls invoices.settlement.apply. Allocating to a top-up invoice provisions it (see
top_ups.provision_locked). Paying an invoice with the customer's credit is an allocation whose source is
credit (invoice_pay_with_credits). The monthly billing run pays its invoice with unallocated payment cash
through allocate_cash_locked: ordinary payment allocations too.

Money in that no invoice has used yet (invoices.selectors.unapplied_money) never goes below zero: each
service checks its own figures (a payment's unallocated amount, the credit balance), then
rules.guard_money_in after its writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F

from audit.actors import Actor
from audit.services import audit_record
from customers import ledger
from customers.ledger import Entry
from customers.locks import lock_customer
from customers.models import Bucket, Customer, Transaction, TransactionKind
from customers.money import ZERO, display
from invoices import settlement
from invoices.locks import lock_invoice, lock_invoices
from invoices.models import Invoice, InvoiceType

from ..locks import lock_allocation, lock_payment, lock_payments
from ..models import Allocation, AllocationSource, Payment
from ..rules import AllocationError, check_allocation, guard_money_in, invoice_refusal, normalise_lines
from ..selectors import credit_position
from ._common import checked_amount, label, payment_snapshot, when
from .payments import PaymentError, assign_locked
from .top_ups import TopUpError, provision_locked, remove_locked

ALLOCATION_SOURCE = "finance.allocation"
AUDIT_EXEMPT = {
    "allocate_locked": "payment_allocate's change without its event, for a service of a higher app that allocates "
                       "as part of its own change (banking's reconciliation) and records the one audit event",
    "reverse_locked": "allocation_reverse's change without its event, for a service of a higher app that undoes "
                      "allocations as part of its own change (banking's undo) and records the one audit event",
    "allocate_cash_locked": "primitive the monthly billing run calls under its locks (passed to it as "
                            "services.billing.PAYMENT_CASH); the run records the one audit event, listing these "
                            "allocations",
}


@transaction.atomic
def payment_allocate(*, payment: Payment, lines: Sequence[tuple[int, object]], actor: Actor,
                     at: dt.datetime | None = None) -> list[Allocation]:
    """Allocate one payment to one or several invoices of one customer, all or nothing.

    `lines` are (invoice id, amount). An unassigned payment is assigned to the invoices' customer first
    ("Assign & allocate", one assignment change). Refused (nothing changed): an amount that is not a
    positive amount of at most 6 decimals, invoices of several customers, a payment of another customer,
    a currency mismatch, a void, draft or paid invoice, more than an invoice still owes, a top-up invoice
    not sent or not paid in full, more than the payment has unallocated (the billing run's use of it is an
    allocation too, so that is money no invoice has used: the same money never settles two invoices)."""
    at = when(at)
    payment, customer, invoices, created, before = allocate_locked(payment=payment, lines=lines, actor=actor, at=at)
    audit_record(actor=actor, app="finance", action="finance.payment.allocate", obj=payment,
                 customer_id=customer.pk, at=at, before=before,
                 after={**payment_snapshot(payment), "allocations": [
                     {"id": a.pk, "invoice": invoices[a.invoice_id].number, "amount": a.amount,
                      "provisioned": invoices[a.invoice_id].type == InvoiceType.TOP_UP} for a in created]})
    return created


def allocate_locked(*, payment: Payment, lines: Sequence[tuple[int, object]], actor: Actor, at: dt.datetime):
    """payment_allocate without its audit event (same locks, checks and writes). Returns the payment
    (refreshed), the customer, the invoices by id, the allocations made and the payment's snapshot before."""
    lines = normalise_lines(lines)
    invoice_ids = [i for i, _ in lines]
    customer_ids = set(Invoice.objects.filter(pk__in=invoice_ids).values_list("customer_id", flat=True))
    if len(customer_ids) > 1:
        raise AllocationError("The invoices belong to different customers; allocate to one customer's "
                              "invoices at a time.")
    if not customer_ids:
        raise AllocationError("One of the invoices does not exist.")
    customer = lock_customer(customer_ids.pop())
    invoices = lock_invoices(invoice_ids)
    if len(invoices) != len(invoice_ids):
        raise AllocationError("One of the invoices does not exist.")
    payment = lock_payment(payment.pk)
    total = check_allocation(payment, customer, invoices, lines)
    before = payment_snapshot(payment)
    if payment.customer_id is None:
        try:
            assign_locked(customer, payment, at=at)
        except PaymentError as exc:
            raise AllocationError(str(exc))
    created = []
    for invoice_id, amount in lines:
        invoice = invoices[invoice_id]
        allocation = Allocation.objects.create(source=AllocationSource.PAYMENT, payment=payment, invoice=invoice,
                                               customer=customer, amount=amount, created_at=at,
                                               created_by=label(actor))
        settlement.apply(invoice, amount, at=at)
        if invoice.type == InvoiceType.TOP_UP:
            provision_locked(customer, invoice, payment, allocation, actor=actor, at=at)
        created.append(allocation)
    Payment.objects.filter(pk=payment.pk).update(amount_allocated=F("amount_allocated") + total, updated_at=at)
    payment.refresh_from_db()
    guard_money_in(customer, error=AllocationError)
    return payment, customer, invoices, created, before


@transaction.atomic
def allocation_reverse(*, allocation: Allocation, actor: Actor, reason: str = "",
                       at: dt.datetime | None = None) -> Allocation:
    """Undo an allocation: the invoice gets the amount back as outstanding, the payment (or the customer's
    credit) gets it back as unallocated. The row is kept, marked reversed. Undoing the allocation that
    provisioned a top-up invoice removes the top-up, refused while its credits are spent."""
    at = when(at)
    allocation, payment, customer, invoice, before, after = reverse_locked(allocation=allocation, actor=actor,
                                                                           reason=reason, at=at)
    audit_record(actor=actor, app="finance", action="finance.allocation.reverse",
                 obj=payment if payment is not None else allocation, customer_id=customer.pk, at=at,
                 before=before, after={**after, "allocation": allocation.pk, "invoice": invoice.number,
                                       "amount": allocation.amount}, reason=reason)
    return allocation


def reverse_locked(*, allocation: Allocation, actor: Actor, reason: str, at: dt.datetime):
    """allocation_reverse without its audit event (same locks, checks and writes). Returns the allocation,
    its payment (None for credit), customer and invoice, refreshed, and the event's before and after."""
    try:  # the row's links never change: read them fresh rather than trust the caller's instance
        allocation = Allocation.objects.get(pk=allocation.pk)
    except Allocation.DoesNotExist:
        raise AllocationError("This allocation does not exist.")
    customer = lock_customer(allocation.customer_id)
    invoice = lock_invoice(allocation.invoice_id)
    payment = lock_payment(allocation.payment_id) if allocation.payment_id else None
    allocation = lock_allocation(allocation.pk)
    if allocation.reversed_at is not None:
        raise AllocationError(f"Allocation #{allocation.pk} was already undone.")
    top_up = getattr(allocation, "top_up", None)
    before = {"reversed_at": None, "invoice_amount_paid": invoice.amount_paid,
              **(payment_snapshot(payment) if payment else {})}
    if top_up is not None:
        try:
            remove_locked(customer, top_up, payment, invoice=invoice, actor=actor, reason=reason, at=at)
        except TopUpError as exc:
            raise AllocationError(str(exc))
    else:
        settlement.unapply(invoice, allocation.amount, at=at)
        Allocation.objects.filter(pk=allocation.pk).update(reversed_at=at, reversed_by=label(actor),
                                                           reversal_reason=reason[:255])
        if payment is not None:
            Payment.objects.filter(pk=payment.pk).update(amount_allocated=F("amount_allocated") - allocation.amount,
                                                         updated_at=at)
        else:
            _reverse_credit_entries(customer, allocation, at=at)
    allocation.refresh_from_db()
    invoice.refresh_from_db()
    after = {"reversed_at": allocation.reversed_at, "invoice_amount_paid": invoice.amount_paid}
    if payment is not None:
        payment.refresh_from_db()
        after.update(payment_snapshot(payment))
    return allocation, payment, customer, invoice, before, after


def _reverse_credit_entries(customer: Customer, allocation: Allocation, *, at: dt.datetime) -> None:
    """A credit allocation of a consolidated / none customer posted CREDIT_APPLIED for the part taken from
    unbilled credit; post the exact opposite of those entries (one reversal each)."""
    entries = list(Transaction.objects.filter(source_type=ALLOCATION_SOURCE, source_id=allocation.pk,
                                              reverses__isnull=True))
    ledger.post(customer, [
        Entry(kind=TransactionKind.CREDIT_APPLIED, amount=-t.amount, bucket=t.bucket, reference=t.reference,
              description=f"Credit allocation #{allocation.pk} undone", source_type=ALLOCATION_SOURCE,
              source_id=allocation.pk, reverses_id=t.pk)
        for t in entries
    ], at=at)


@transaction.atomic
def invoice_pay_with_credits(*, invoice: Invoice, amount: object, actor: Actor,
                             at: dt.datetime | None = None) -> list[Allocation]:
    """Pay (part of) an invoice from what the customer has with us ("credits first").

    Money still unallocated on the customer's assigned payments is used first (oldest payment first, as
    ordinary payment allocations, so the same money can never be allocated again); the rest comes from the
    customer's credit balance (selectors.credit_position) as one allocation whose source is credit. The
    part of that credit standing on the unbilled side (consolidated / none customers' top-ups; for any
    setup an unbilled CR, such as a positive adjustment) is moved to the billed side with a CREDIT_APPLIED
    pair (unbilled -x, due +x), so an invoice is always paid with money in on the billed side; the rest
    already stands there (`individual` customers' top-ups, credit notes on account): settlement only.
    Refused when the credits fall short (the message says by how much; not when the cash alone covers
    the amount), for top-up invoices, and for invoices not awaiting payment."""
    at = when(at)
    created, before, after = _pay_with_credits(invoice=invoice, amount=amount, actor=actor, at=at)
    audit_record(actor=actor, app="finance", action="finance.invoice.pay_with_credits", obj=invoice,
                 customer_id=invoice.customer_id, at=at, before=before, after=after)
    return created


def _pay_with_credits(*, invoice: Invoice, amount: object, actor: Actor,
                      at: dt.datetime) -> tuple[list[Allocation], dict, dict]:
    """invoice_pay_with_credits without its audit event, for a service that pays several invoices and
    records them in its own one event (finance.services.cards). Returns the allocations and the invoice's
    before/after (the caller's `invoice` object is not refreshed)."""
    amount = checked_amount(amount, error=AllocationError)
    try:
        customer_id = Invoice.objects.values_list("customer_id", flat=True).get(pk=invoice.pk)
    except Invoice.DoesNotExist:
        raise AllocationError("This invoice does not exist.")
    customer = lock_customer(customer_id)
    invoice = lock_invoice(invoice.pk)
    if invoice.type == InvoiceType.TOP_UP:
        raise AllocationError(f"{invoice.number} is a top-up invoice: it is paid by a payment, not with credits.")
    refusal = invoice_refusal(invoice)
    if refusal:
        raise AllocationError(refusal)
    if invoice.currency != customer.currency:
        raise AllocationError(f"Invoice {invoice.number} is in {invoice.currency}; the customer's credits are "
                              f"in {customer.currency}.")
    if amount > invoice.amount_outstanding:
        raise AllocationError(f"Invoice {invoice.number} has only {display(invoice.amount_outstanding)} outstanding.")
    candidate_ids = list(Payment.objects.with_cash_left().filter(customer=customer)
                         .order_by("pk").values_list("pk", flat=True))
    payments = lock_payments(candidate_ids)
    position = credit_position(customer)
    from_payments = min(amount, position.unallocated_cash)
    from_credit = amount - from_payments
    if from_credit > max(position.credit_balance, ZERO):  # no credit needed when the cash covers it
        short = from_credit - max(position.credit_balance, ZERO)
        raise AllocationError(f"{customer.name} has {display(position.available_for_invoices)} in credits; "
                              f"{display(amount)} is needed, short by {display(short)}.")
    created = _allocate_cash(customer, invoice, payments, from_payments, actor=actor, at=at)
    credit_allocation = None
    if from_credit > ZERO:
        credit_allocation = Allocation.objects.create(source=AllocationSource.CREDIT, payment=None, invoice=invoice,
                                                      customer=customer, amount=from_credit, created_at=at,
                                                      created_by=label(actor))
        created.append(credit_allocation)
        from_unbilled = min(from_credit, max(customer.amount_unbilled - customer.amount_reserved, ZERO))
        if from_unbilled > ZERO:
            ref = f"Credits applied to {invoice.number}"
            ledger.post(customer, [
                Entry(kind=TransactionKind.CREDIT_APPLIED, amount=-from_unbilled, bucket=Bucket.UNBILLED,
                      reference=invoice.number, description=ref, source_type=ALLOCATION_SOURCE,
                      source_id=credit_allocation.pk),
                Entry(kind=TransactionKind.CREDIT_APPLIED, amount=from_unbilled, bucket=Bucket.DUE,
                      reference=invoice.number, description=ref, source_type=ALLOCATION_SOURCE,
                      source_id=credit_allocation.pk),
            ], at=at)
    before_paid = invoice.amount_paid
    settlement.apply(invoice, amount, at=at)
    guard_money_in(customer, error=AllocationError)
    before = {"amount_paid": before_paid, "credit_balance": position.credit_balance}
    after = {"amount_paid": invoice.amount_paid, "status": invoice.status,
             "from_payments": from_payments, "from_credit": from_credit,
             "allocations": [{"id": a.pk, "payment": a.payment_id, "amount": a.amount} for a in created]}
    return created, before, after


def _allocate_cash(customer: Customer, invoice: Invoice, payments: dict[int, Payment], amount, *, actor: Actor,
                   at: dt.datetime) -> list[Allocation]:
    """`amount` of the locked payments' unallocated cash allocated to `invoice`, oldest payment first, as
    ordinary payment allocations (the caller settles the invoice)."""
    created: list[Allocation] = []
    left = amount
    for pk in sorted(payments):
        if left <= ZERO:
            break
        take = min(left, payments[pk].amount_unallocated)
        if take <= ZERO:
            continue
        created.append(Allocation.objects.create(source=AllocationSource.PAYMENT, payment=payments[pk],
                                                 invoice=invoice, customer=customer, amount=take, created_at=at,
                                                 created_by=label(actor)))
        Payment.objects.filter(pk=pk).update(amount_allocated=F("amount_allocated") + take, updated_at=at)
        left -= take
    if left != ZERO:  # the payments were locked: their unallocated amounts cannot have moved
        raise AllocationError("The customer's payments changed meanwhile; try again.")
    return created


def allocate_cash_locked(customer: Customer, invoice: Invoice, amount, *, actor: Actor,
                         at: dt.datetime) -> list[dict]:
    """The monthly billing run paying its new invoice with money the customer paid us and finance has not
    allocated yet ("money already received but not yet used on any invoice"): `amount` of the customer's
    unallocated payment cash, oldest payment first, as ordinary payment allocations, and the invoice
    settled by it. Recording it on the payments (rather than as a credit application naming no payment)
    is what keeps the same money from being allocated again by staff, paid with as credits, topped up,
    un-assigned or withdrawn afterwards.

    Passed to invoices' run as services.billing.PAYMENT_CASH (invoices cannot import finance). The
    run holds the customer's lock and created the invoice in its own transaction; this locks the payments
    (customer -> invoice -> payments, the project's order) and returns what it allocated for the run's
    audit event."""
    ids = list(Payment.objects.with_cash_left().filter(customer=customer).order_by("pk").values_list("pk", flat=True))
    created = _allocate_cash(customer, invoice, lock_payments(ids), amount, actor=actor, at=at)
    settlement.apply(invoice, amount, at=at)
    return [{"payment": a.payment_id, "allocation": a.pk, "amount": a.amount} for a in created]
