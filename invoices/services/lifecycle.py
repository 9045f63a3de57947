"""An invoice's life: create (top-up, purchase) -> send or mark as sent -> (partially) paid, or void.

Rules (DESIGN.md "Invoices", seed 003 "Topup invoice"):
- A new invoice is a draft with its number already taken (gapless: the number is taken in the same
  transaction as the save, so a rollback gives it back; a void keeps it).
- "Send" issues a draft and emails its PDF (a notification is recorded); on an invoice already issued it
  emails it again. "Mark as sent" issues without email. Issuing posts the invoice to the customer's ledger
  (see common.issue); a top-up invoice must be issued before any allocation (settlement refuses drafts).
- Void: a draft (nothing was posted), or a top-up invoice awaiting payment with nothing allocated (no
  credit note needed). Any other issued invoice is cancelled only through a credit note (finance).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import audit_record, audit_record_many
from customers.locks import lock_customer
from customers.models import (
    PURCHASE_KINDS,
    Customer,
    InvoiceSetup,
    Notification,
    NotificationKind,
    TransactionKind,
)
from customers.money import ZERO, MoneyError, display, parse_amount, parse_decimal, quantize

from ..locks import lock_invoice
from ..models import Invoice, InvoiceLine, InvoiceStatus, InvoiceType
from ..numbering import next_number, number_invoices
from .common import (
    INVOICE_SERIES,
    LineSpec,
    default_billing_to,
    email_subject,
    issue,
    local_date,
    payment_terms_days,
    queue_email,
    save_lines,
    snapshot,
    tax_rate,
    totals_of,
)

MAX_LINES = 200
MAX_QUANTITY = Decimal("100000000000")
AUDIT_EXEMPT = {
    "clean_purchase_lines": "pure helper: validates purchase lines, writes nothing",
    "create_invoice": "primitive: inserts an invoice inside the calling service's transaction, which records the "
                      "one audit event (invoice_create_*, bill_customer_period, subscription_renew)",
    "void_refusal": "pure helper: says why an invoice cannot be voided, writes nothing",
    "invoice_top_ups_send_many": "a batch (the daily auto top-up's chunk): the two events of each invoice it "
                                 "issues, as invoice_create_top_up then invoice_send record them (create, send), "
                                 "none of its own",
}


class InvoiceError(ValueError):
    """An invoice action that cannot be done; the message says why, in a finance user's words."""


class DuplicateInvoiceError(InvoiceError):
    """An invoice with this source key (a generated invoice) already exists: `invoice` is that one."""

    def __init__(self, message: str, invoice: Invoice | None = None):
        super().__init__(message)
        self.invoice = invoice


@dataclass(frozen=True)
class PurchaseLine:
    """A purchase line as staff (or a job) enters it. `tax_rate` None means the TAX setting."""

    description: str
    quantity: object
    unit_price: object
    kind: str = TransactionKind.SERVICE
    tax_rate: object = None


# --- input checks ------------------------------------------------------------------------------------------
def _customer(customer_id: int) -> Customer:
    """The customer, locked: a draft moves no money, but the project's lock order still starts with the customer.
    Its rows' foreign keys are checked at COMMIT with a key-share lock on the customer, by when its audit event
    holds the audit chain's head; a service holding that customer's lock and waiting for the same head would
    wait on this one while it waits on the service: a deadlock (tests/finance/test_concurrency.py, 8 threads
    creating, sending and paying invoices of 4 customers)."""
    try:
        return lock_customer(int(customer_id))
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise InvoiceError(f"There is no customer #{customer_id}.")


def _text(value: str | None, *, field: str, max_length: int, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvoiceError(f"{field} is required.")
    if len(text) > max_length:
        raise InvoiceError(f"{field} can have at most {max_length} characters.")
    return text


def _amount(raw: object, *, field: str, allow_zero: bool = False) -> Decimal:
    try:
        return parse_amount(raw, field=field, allow_zero=allow_zero)
    except MoneyError as exc:
        raise InvoiceError(str(exc))


def _decimal(raw: object, *, field: str, places: int) -> Decimal:
    """A quantity or a tax rate, parsed as strictly as an amount (no exponent, no non-ASCII digits, commas
    only between thousands, at most `places` decimals); the range is the caller's to check."""
    try:
        return parse_decimal(raw, field=field, places=places, allow_zero=True, allow_negative=True)
    except MoneyError as exc:
        raise InvoiceError(str(exc))


def _dates(issue_date: dt.date | None, due_date: dt.date | None, at: dt.datetime) -> tuple[dt.date, dt.date]:
    issue_date = issue_date or local_date(at)
    due_date = due_date or issue_date + dt.timedelta(days=payment_terms_days())
    if due_date < issue_date:
        raise InvoiceError("The due date cannot be before the issue date.")
    return issue_date, due_date


def clean_purchase_lines(lines: Sequence[PurchaseLine]) -> list[LineSpec]:
    """Validate purchase lines into LineSpecs; "Line 2: ..." says which line is wrong."""
    if not lines:
        raise InvoiceError("A purchase invoice needs at least one line.")
    if len(lines) > MAX_LINES:
        raise InvoiceError(f"A purchase invoice can have at most {MAX_LINES} lines.")
    specs = []
    for n, line in enumerate(lines, start=1):
        where = f"Line {n}"
        description = _text(line.description, field=f"{where}: the description", max_length=255, required=True)
        if line.kind not in PURCHASE_KINDS:
            names = ", ".join(TransactionKind(k).label.lower() for k in TransactionKind if k in PURCHASE_KINDS)
            raise InvoiceError(f"{where}: a purchase is one of {names}.")
        quantity = _decimal(line.quantity, field=f"{where}: the quantity", places=3)
        if quantity <= ZERO:
            raise InvoiceError(f"{where}: the quantity must be more than zero.")
        if quantity >= MAX_QUANTITY:
            raise InvoiceError(f"{where}: the quantity must be less than {MAX_QUANTITY:,}.")
        unit_price = _amount(line.unit_price, field=f"{where}: the unit price", allow_zero=True)
        rate = (tax_rate() if line.tax_rate in (None, "")
                else _decimal(line.tax_rate, field=f"{where}: the tax rate", places=4))
        if not ZERO <= rate <= Decimal(100):
            raise InvoiceError(f"{where}: the tax rate is a percentage from 0 to 100 (at most 4 decimal places).")
        specs.append(LineSpec(description=description, quantity=quantity.quantize(Decimal("0.001")),
                              unit_price=unit_price, tax_rate=rate, kind=line.kind))
    if totals_of(specs).total <= ZERO:
        raise InvoiceError("The invoice total must be more than zero.")
    return specs


def _check_source_key(source_key: str | None) -> str | None:
    if not source_key:
        return None
    existing = Invoice.objects.filter(source_key=source_key).first()
    if existing is not None:
        raise DuplicateInvoiceError(f"Invoice {existing.number} was already issued for {source_key}.", existing)
    return source_key


def create_invoice(*, customer: Customer, type: str, name: str, billing_to: str, specs: list[LineSpec],
                   issue_date: dt.date, due_date: dt.date, source_key: str | None = None,
                   period_start: dt.date | None = None, status: str = InvoiceStatus.DRAFT,
                   sent_at: dt.datetime | None = None, paid_at: dt.datetime | None = None) -> Invoice:
    """Insert an invoice and its lines with the next number of the series (inside the caller's
    transaction). A concurrent twin with the same source key becomes DuplicateInvoiceError."""
    totals = totals_of(specs)
    number = next_number(INVOICE_SERIES, issue_date.year)
    fields = dict(number=number, customer=customer, type=type, status=status, name=name[:200],
                  billing_to=billing_to, currency=customer.currency, issue_date=issue_date, due_date=due_date,
                  period_start=period_start, subtotal=totals.subtotal, tax=totals.tax, total=totals.total,
                  source_key=source_key, sent_at=sent_at, paid_at=paid_at)
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(**fields)
    except IntegrityError:
        existing = Invoice.objects.filter(source_key=source_key).first() if source_key else None
        if existing is None:
            raise
        raise DuplicateInvoiceError(f"Invoice {existing.number} was already issued for {source_key}.", existing)
    save_lines(invoice, specs)
    return invoice


def _created_event(invoice: Invoice, specs: list[LineSpec], actor: Actor, at: dt.datetime) -> None:
    audit_record(actor=actor, action="invoices.invoice.create", app="invoices", obj=invoice,
                 customer_id=invoice.customer_id, at=at,
                 after={**snapshot(invoice), "name": invoice.name, "subtotal": invoice.subtotal, "tax": invoice.tax,
                        "issue_date": invoice.issue_date, "due_date": invoice.due_date,
                        "lines": [{"description": s.description, "kind": s.kind, "quantity": s.quantity,
                                   "unit_price": s.unit_price, "tax_rate": s.tax_rate} for s in specs]})


# --- create ------------------------------------------------------------------------------------------------
@transaction.atomic
def invoice_create_top_up(
    *,
    customer_id: int,
    amount: object,
    actor: Actor,
    name: str = "",
    billing_to: str = "",
    issue_date: dt.date | None = None,
    due_date: dt.date | None = None,
    source_key: str | None = None,
    at: dt.datetime | None = None,
) -> Invoice:
    """A draft top-up invoice asking for `amount` (no tax: a deposit, not a sale)."""
    at = at or timezone.now()
    amount = _amount(amount, field="The top-up amount")
    customer = _customer(customer_id)
    minimum = Decimal(str(getattr(settings, "LEDGERDESK_MIN_TOP_UP", "0")))
    if amount < minimum:
        raise InvoiceError(f"The top-up amount must be at least {display(minimum)} {customer.currency}.")
    name = _text(name, field="The name", max_length=200) or f"Top-up {display(amount)} {customer.currency}"
    billing_to = _text(billing_to, field="Billing to", max_length=2000) or default_billing_to(customer)
    issue_date, due_date = _dates(issue_date, due_date, at)
    source_key = _check_source_key(source_key)
    specs = [LineSpec(description=name, quantity=Decimal(1), unit_price=amount, tax_rate=ZERO,
                      kind=TransactionKind.TOP_UP)]
    invoice = create_invoice(customer=customer, type=InvoiceType.TOP_UP, name=name, billing_to=billing_to,
                             specs=specs, issue_date=issue_date, due_date=due_date, source_key=source_key)
    _created_event(invoice, specs, actor, at)
    return invoice


@transaction.atomic
def invoice_create_purchase(
    *,
    customer_id: int,
    lines: Sequence[PurchaseLine],
    actor: Actor,
    name: str = "",
    billing_to: str = "",
    issue_date: dt.date | None = None,
    due_date: dt.date | None = None,
    at: dt.datetime | None = None,
) -> Invoice:
    """A draft purchase invoice (subscriptions, add-ons, services, hardware) for an `individual` customer.
    Its charges are posted to the ledger when it is issued (see common.issue)."""
    at = at or timezone.now()
    specs = clean_purchase_lines(lines)
    customer = _customer(customer_id)
    if customer.invoice_setup != InvoiceSetup.INDIVIDUAL:
        raise InvoiceError(
            f"{customer.name} is set up for {customer.get_invoice_setup_display().lower()}: purchase invoices are "
            "only for customers with individual invoices (the monthly run bills the others' purchases).")
    name = _text(name, field="The name", max_length=200) or specs[0].description[:200]
    billing_to = _text(billing_to, field="Billing to", max_length=2000) or default_billing_to(customer)
    issue_date, due_date = _dates(issue_date, due_date, at)
    invoice = create_invoice(customer=customer, type=InvoiceType.PURCHASE, name=name, billing_to=billing_to,
                             specs=specs, issue_date=issue_date, due_date=due_date)
    _created_event(invoice, specs, actor, at)
    return invoice


@dataclass(frozen=True)
class TopUpToSend:
    """One top-up invoice of a batch (invoice_top_ups_send_many): `customer` locked by the caller."""

    customer: Customer
    amount: Decimal
    name: str
    source_key: str


@dataclass
class TopUpsSent:
    invoices: dict[int, Invoice] = field(default_factory=dict)  # customer id -> its invoice, issued and sent
    refused: dict[int, str] = field(default_factory=dict)  # customer id -> why one by one would refuse (or find) it
    notifications: dict[int, Notification] = field(default_factory=dict)  # customer id -> its queued email


_NUMBER_MARK = "\x00number\x00"


def _top_up_fields(item: TopUpToSend, at: dt.datetime) -> dict:
    """The checks invoice_create_top_up and invoice_send make, for one item; raises InvoiceError as they do."""
    customer = item.customer
    amount = _amount(item.amount, field="The top-up amount")
    minimum = Decimal(str(getattr(settings, "LEDGERDESK_MIN_TOP_UP", "0")))
    if amount < minimum:
        raise InvoiceError(f"The top-up amount must be at least {display(minimum)} {customer.currency}.")
    name = _text(item.name, field="The name", max_length=200) or f"Top-up {display(amount)} {customer.currency}"
    billing_to = default_billing_to(customer)
    if not customer.billing_email:
        raise InvoiceError(f"{customer.name} has no billing email: add one, or use Mark as sent.")
    return {"amount": amount, "name": name, "billing_to": billing_to}


def invoice_top_ups_send_many(items: Sequence[TopUpToSend], *, actor: Actor, at: dt.datetime,
                              via_celery: bool) -> TopUpsSent:
    """invoice_create_top_up then invoice_send for many customers at once, inside the caller's transaction (the
    daily auto top-up's chunk), with a few statements whatever their number: the invoices inserted issued and
    without a number (one INSERT), their lines (one), then numbered in id order by one set-based statement
    (numbering.number_invoices, as the billing run: gapless and unique, the series row locked to COMMIT so a
    rollback gives every number back), their emails' notifications (one INSERT), and each invoice's two audit
    events, create and send, as the two services record them (one INSERT); the emails go in ONE task after
    COMMIT. A top-up invoice posts nothing to the ledger (it asks for a deposit).

    An item the two services would refuse (amount, minimum, no billing email), or whose source key has an
    invoice already, is left out and named in `refused` with the reason: the caller handles it one by one."""
    sent = TopUpsSent()
    fields = {}
    for item in items:
        try:
            fields[item.customer.pk] = _top_up_fields(item, at)
        except InvoiceError as error:
            sent.refused[item.customer.pk] = str(error)
    keys = {item.source_key: item.customer.pk for item in items if item.customer.pk in fields}
    for key, number in Invoice.objects.filter(source_key__in=list(keys)).values_list("source_key", "number"):
        sent.refused[keys[key]] = f"Invoice {number} was already issued for {key}."
        del fields[keys[key]]
    todo = [item for item in items if item.customer.pk in fields]
    if not todo:
        return sent
    issue_date, due_date = _dates(None, None, at)
    invoices = []
    for item in todo:
        f = fields[item.customer.pk]
        amount = quantize(f["amount"])
        invoices.append(Invoice(
            number=None, customer=item.customer, type=InvoiceType.TOP_UP, status=InvoiceStatus.SENT, name=f["name"],
            billing_to=f["billing_to"], currency=item.customer.currency, issue_date=issue_date, due_date=due_date,
            subtotal=amount, tax=quantize(ZERO), total=amount, amount_paid=quantize(ZERO),
            amount_credited=quantize(ZERO), source_key=item.source_key, sent_at=at))
    Invoice.objects.bulk_create(invoices)
    quantity = Decimal(1)
    InvoiceLine.objects.bulk_create([
        InvoiceLine(invoice=invoice, position=1, description=invoice.name[:255], quantity=quantity,
                    unit_price=fields[invoice.customer_id]["amount"], tax_rate=ZERO, amount=invoice.subtotal,
                    tax_amount=quantize(ZERO), kind=TransactionKind.TOP_UP)
        for invoice in invoices])
    subject = email_subject(SimpleNamespace(number=_NUMBER_MARK))  # rendered once, the number put in below

    # --- from here to COMMIT the series row is locked (number_invoices): the fewest statements possible ---------
    numbers = number_invoices(INVOICE_SERIES, issue_date.year, [invoice.pk for invoice in invoices])
    for invoice in invoices:
        invoice.number = numbers[invoice.pk]
    notes = Notification.objects.bulk_create([
        Notification(customer=item.customer, kind=NotificationKind.INVOICE, channel="email",
                     recipient=item.customer.billing_email, subject=subject.replace(_NUMBER_MARK, invoice.number)[:200],
                     status="queued", source_type="invoices.invoice", source_id=invoice.pk, sent_at=at)
        for item, invoice in zip(todo, invoices, strict=True)])
    events = []
    for item, invoice, note in zip(todo, invoices, notes, strict=True):
        customer, f = item.customer, fields[item.customer.pk]
        draft = {**snapshot(invoice), "status": InvoiceStatus.DRAFT, "sent_at": None}
        events.append({
            "actor": actor, "action": "invoices.invoice.create", "app": "invoices", "obj": invoice,
            "customer_id": customer.pk, "at": at,
            "after": {**draft, "name": invoice.name, "subtotal": invoice.subtotal, "tax": invoice.tax,
                      "issue_date": issue_date, "due_date": due_date,
                      "lines": [{"description": invoice.name[:255], "kind": TransactionKind.TOP_UP,
                                 "quantity": quantity, "unit_price": f["amount"], "tax_rate": ZERO}]}})
        events.append({
            "actor": actor, "action": "invoices.invoice.send", "app": "invoices", "obj": invoice,
            "customer_id": customer.pk, "at": at, "before": draft,
            "after": {**snapshot(invoice), "emailed_to": note.recipient, "notification": note.pk,
                      "amount_due": customer.amount_due}})
        sent.invoices[customer.pk] = invoice
        sent.notifications[customer.pk] = note
    audit_record_many(events)
    note_ids = [note.pk for note in notes]
    if via_celery:
        from ..tasks import email_invoices

        transaction.on_commit(lambda: email_invoices.delay(note_ids), robust=True)
    else:
        from .delivery import invoice_email_deliver

        transaction.on_commit(
            lambda: [invoice_email_deliver(notification_id=pk, actor=actor) for pk in note_ids], robust=True)
    return sent


# --- send, mark as sent ------------------------------------------------------------------------------------
def _lock(invoice_id: int) -> tuple[Customer, Invoice]:
    """Lock the invoice's customer, then the invoice (the project's lock order)."""
    customer_id = Invoice.objects.filter(pk=invoice_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        raise InvoiceError(f"There is no invoice #{invoice_id}.")
    return lock_customer(customer_id), lock_invoice(invoice_id)


@transaction.atomic
def invoice_send(*, invoice_id: int, actor: Actor, at: dt.datetime | None = None,
                 via_celery: bool = False) -> Invoice:
    """Email the invoice's PDF to the customer's billing address and record the notification; a draft is
    issued first (see the module's docstring). Sending an issued invoice again emails it again."""
    at = at or timezone.now()
    customer, invoice = _lock(invoice_id)
    if invoice.status == InvoiceStatus.VOID:
        raise InvoiceError(f"Invoice {invoice.number} is void: a void invoice is not sent.")
    if not customer.billing_email:
        raise InvoiceError(f"{customer.name} has no billing email: add one, or use Mark as sent.")
    before = snapshot(invoice)
    was_draft = invoice.status == InvoiceStatus.DRAFT
    if was_draft:
        issue(invoice, customer, at=at)
    note = queue_email(invoice, customer, at=at, actor=actor, via_celery=via_celery)
    audit_record(actor=actor, action="invoices.invoice.send" if was_draft else "invoices.invoice.resend",
                 app="invoices", obj=invoice, customer_id=customer.pk, at=at, before=before,
                 after={**snapshot(invoice), "emailed_to": note.recipient, "notification": note.pk,
                        "amount_due": customer.amount_due})
    return invoice


@transaction.atomic
def invoice_mark_sent(*, invoice_id: int, actor: Actor, at: dt.datetime | None = None) -> Invoice:
    """Issue a draft without emailing it (it was handed over another way)."""
    at = at or timezone.now()
    customer, invoice = _lock(invoice_id)
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceError(f"Invoice {invoice.number} is already {invoice.status_label.lower()}; "
                           "only a draft can be marked as sent.")
    before = snapshot(invoice)
    issue(invoice, customer, at=at)
    audit_record(actor=actor, action="invoices.invoice.mark_sent", app="invoices", obj=invoice,
                 customer_id=customer.pk, at=at, before=before,
                 after={**snapshot(invoice), "amount_due": customer.amount_due})
    return invoice


# --- void --------------------------------------------------------------------------------------------------
def void_refusal(invoice: Invoice) -> str | None:
    """Why this invoice cannot be voided, or None when it can (the page shows the reason on the button)."""
    if invoice.status == InvoiceStatus.VOID:
        return f"Invoice {invoice.number} is already void."
    if invoice.status == InvoiceStatus.DRAFT:
        return None
    if invoice.type != InvoiceType.TOP_UP:
        return (f"Invoice {invoice.number} has been sent: a {invoice.get_type_display().lower()} invoice is "
                "cancelled with a credit note (Finance), not voided.")
    if invoice.provisioned_at is not None or invoice.amount_paid > ZERO or invoice.amount_credited > ZERO \
            or invoice.status != InvoiceStatus.SENT:
        return (f"Top-up invoice {invoice.number} has {display(invoice.amount_paid)} {invoice.currency} allocated "
                f"({invoice.status_label.lower()}): remove the allocation before voiding it.")
    return None


@transaction.atomic
def invoice_void(*, invoice_id: int, reason: str, actor: Actor, at: dt.datetime | None = None) -> Invoice:
    """Void a draft, or a top-up invoice awaiting payment with nothing allocated. The number is kept. Nothing
    was posted to the ledger for either, so nothing is reversed."""
    at = at or timezone.now()
    reason = _text(reason, field="The reason for voiding", max_length=255, required=True)
    try:
        invoice = lock_invoice(invoice_id)
    except Invoice.DoesNotExist:
        raise InvoiceError(f"There is no invoice #{invoice_id}.")
    refusal = void_refusal(invoice)
    if refusal:
        raise InvoiceError(refusal)
    before = snapshot(invoice)
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID, voided_at=at, void_reason=reason)
    invoice.refresh_from_db()
    audit_record(actor=actor, action="invoices.invoice.void", app="invoices", obj=invoice,
                 customer_id=invoice.customer_id, at=at, before=before, after=snapshot(invoice), reason=reason)
    return invoice
