"""The monthly billing run (DESIGN.md "Invoices", the invoice-setup table): per customer and month, one
short transaction bills the customer's unbilled charges into one monthly invoice, issues it, applies the
customer's available credit to it and queues its email.

What is billed, by invoice setup:
- `individual`: unbilled usage charges only (call, SMS, fax, number activation): the monthly tax invoice
  for usage (their purchases were billed at once by purchase invoices).
- `consolidated`: every unbilled charge (usage, purchases, negative adjustments): one invoice for all.
  Unbilled CR (top-ups, master-account transfers, positive adjustments) is not a line: it is credit, and
  it pays the invoice (below).
- `none`: never invoiced.
Charges are negative entries; positive entries of a charge kind are credit, not lines, with one exception:
staff's reversal of a charge billed by the same invoice (customers.adjustment_post with reverses_id, the
exact opposite) nets into that charge's line, whatever its date, so a duplicate call is neither invoiced
nor taxed. A reversal of a charge already invoiced is credit (for `consolidated` customers it pays the
next invoice; correcting an issued invoice, tax included, is a credit note).

Lines: usage is summed per kind (one "Calls" line standing for every call of the month, each call linked
to that line by an InvoiceLineEntry row); any other charge gets a line of its own (InvoiceLine.transaction).
At 100,000 customers x ~20 entries a month that is ~2M narrow link rows (two bigints) a month written by
one multi-row INSERT per invoice, instead of ~2M invoice lines and multi-thousand-line PDFs for busy
accounts; every billed transaction still points at the one line that billed it, and a transaction can be
linked once only (unique), besides carrying the invoice number (billed_document).

Credit applied to the new invoice, out of the money in that no invoice has used yet
(selectors.unapplied_money: amount due + what the open invoices still ask for), the same figure finance's
allocations are held to, all under the customer's lock:
1. what of it is not payment cash (credit notes on account, credit moved from unbilled, `individual`
   customers' top-ups): settlement.apply, recorded as a CreditApplication (source amount_due); no ledger
   movement (the money is already on the due side);
2. money the customer paid that finance has not allocated yet: allocated by finance to the invoice, oldest
   payment first, as ordinary payment allocations (the CashSource the caller passes: invoices cannot import
   finance, so the run is started from finance, finance.tasks / `manage.py billing_run`, with
   finance.services.billing.PAYMENT_CASH). The payments then say their money is used, so it cannot be
   allocated, paid with, topped up, un-assigned or withdrawn a second time;
3. for `consolidated` customers, unbilled credit not held by open reservations: one CREDIT_APPLIED pair
   (unbilled -x, due +x) in one ledger.post, plus settlement.apply(x), a CreditApplication (unbilled).
None changes the current balance; the invoice shows as (partially) paid. Invoice.amount_paid = Σ finance's
active allocations + Σ CreditApplication rows, always.

Idempotent per customer and period: the invoice's source_key "monthly:<customer>:<YYYY-MM>" is unique and
so is (customer, period_start) for monthly invoices, and the check runs under the customer's lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from audit.actors import Actor
from customers.models import USAGE_KINDS, Customer, InvoiceSetup, TransactionKind
from customers.money import ZERO

from ..models import Invoice
from ..selectors import billing_candidates, period_bounds
from .common import LineSpec, local_date

log = logging.getLogger(__name__)

USAGE_LABELS = {
    TransactionKind.CALL: "Calls",
    TransactionKind.SMS: "SMS",
    TransactionKind.FAX: "Faxes",
    TransactionKind.NUMBER_ACTIVATION: "Number activation fees",
}
USAGE_ORDER = [TransactionKind.CALL, TransactionKind.SMS, TransactionKind.FAX, TransactionKind.NUMBER_ACTIVATION]
AUDIT_EXEMPT = {
    "parse_period": "pure helper: parses YYYY-MM, writes nothing",
    "ended_period": "pure helper: parses YYYY-MM and refuses a month not over, writes nothing",
    "previous_period": "pure helper: a date computation, writes nothing",
    "period_key": "pure helper: formats the idempotency key, writes nothing",
    "monthly_lines": "pure helper: builds line specs from entries, writes nothing",
    "plan_credit": "a read: works out the credit to apply, writes nothing",
}


class BillingError(ValueError):
    """The run cannot bill this period or customer; the message says why."""


@dataclass(frozen=True)
class CashSource:
    """Money customers paid that no invoice has used yet: finance's unallocated payments. Finance owns
    payments and sits above invoices (invoices cannot import it), so whoever starts a run passes it
    (finance.services.billing.PAYMENT_CASH; finance's task and `billing_run` command do). Both run inside
    the run's chunk (billing_run._bill_batch), under the customers' locks:
    - available(customer) -> Decimal: the customer's unallocated payment cash;
    - allocate(customer, invoice, amount, *, actor, at) -> list[dict]: allocate `amount` of it to the new
      invoice as ordinary payment allocations and settle the invoice by it; returns what was allocated
      (for the audit event).
    With cash_source=None (said explicitly: the argument has no default) all the unapplied money is applied
    as credit (CreditApplication); only a caller that knows no payment can hold unallocated cash may do so."""

    available: Callable[[Customer], Decimal]
    allocate: Callable[..., list[dict]]


def parse_period(value: str | dt.date) -> dt.date:
    """"2026-10" (or any date in the month) -> 2026-10-01."""
    if isinstance(value, dt.date):
        return value.replace(day=1)
    match = re.fullmatch(r"(\d{4})-(\d{2})", str(value or "").strip())
    try:
        if match is None:
            raise ValueError
        return dt.date(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise BillingError(f"The period must be a month as YYYY-MM, such as 2026-10 (got {value!r}).")


def ended_period(value: str | dt.date, at: dt.datetime) -> dt.date:
    """The month `value` names (parse_period), refused while it has not ended at `at`: a month is billed once over."""
    period = parse_period(value)
    _, end = period_bounds(period)
    if at < end:
        raise BillingError(f"{period:%B %Y} has not ended yet: it can be billed from {end:%d %b %Y}.")
    return period


def previous_period(at: dt.datetime) -> dt.date:
    """The month before the operator's current month (what the run on the 1st bills)."""
    return (local_date(at).replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def period_key(customer_id: int, period: dt.date) -> str:
    return f"monthly:{customer_id}:{period:%Y-%m}"


def monthly_lines(entries: Iterable[tuple], period: dt.date, rate: Decimal,
                  reversals: Iterable[tuple] = ()) -> list[LineSpec]:
    """Lines for the entries (id, kind, amount, description): usage summed per kind, other charges one line
    each. Amounts on lines are positive (an entry of -12.5 is a line of 12.5). `reversals` (id, reverses_id,
    amount) are staff's exact opposites of some of these entries: each nets into the line of the entry it
    reverses (a call rated twice and reversed is neither invoiced nor taxed)."""
    entries = list(entries)
    kind_of = {e[0]: e[1] for e in entries}
    reversed_by: dict[int, list[tuple]] = defaultdict(list)
    for rid, original, amount in reversals:
        reversed_by[original].append((rid, amount))
    usage: dict[str, list[tuple]] = defaultdict(list)
    others: list[tuple] = []
    for entry in entries:
        (usage[entry[1]] if entry[1] in USAGE_KINDS else others).append(entry)
    for original, rows in reversed_by.items():
        if kind_of.get(original) in USAGE_KINDS:
            usage[kind_of[original]] += [(rid, kind_of[original], amount, "") for rid, amount in rows]
    specs = []
    for kind in USAGE_ORDER:
        rows = usage.get(kind)
        if not rows:
            continue
        n = len(rows)
        specs.append(LineSpec(
            description=f"{USAGE_LABELS[kind]}, {period:%B %Y} ({n:,} {'entry' if n == 1 else 'entries'})",
            quantity=Decimal(1), unit_price=-sum((r[2] for r in rows), ZERO), tax_rate=rate, kind=kind,
            entry_ids=tuple(r[0] for r in rows)))
    for tid, kind, amount, description in others:
        label = TransactionKind(kind).label
        text = f"{label}: {description}" if description else label
        corrections = reversed_by.get(tid, [])
        if corrections:
            text += " (reversed)"
        specs.append(LineSpec(description=text[:255], quantity=Decimal(1),
                              unit_price=-amount - sum((a for _, a in corrections), ZERO), tax_rate=rate, kind=kind,
                              transaction_id=tid, entry_ids=tuple(rid for rid, _ in corrections)))
    return specs


def _figures(customer: Customer) -> dict:
    return {"expecting_invoice": customer.amount_unbilled, "amount_due": customer.amount_due,
            "current_balance": customer.current_balance}


@dataclass(frozen=True)
class CreditPlan:
    """How much of what the customer has with us pays the new invoice, worked out before any write."""

    from_due: Decimal = ZERO  # credit on the billed side that is not payment cash (CreditApplication)
    from_unbilled: Decimal = ZERO  # consolidated customers' unbilled credit (CreditApplication + CREDIT_APPLIED)
    from_payments: Decimal = ZERO  # unallocated payment cash (finance's allocations, CashSource)

    @property
    def credit(self) -> Decimal:
        return self.from_due + self.from_unbilled

    @property
    def total(self) -> Decimal:
        return self.from_due + self.from_unbilled + self.from_payments


def plan_credit(customer: Customer, *, total: Decimal, billed: Decimal,
                cash: Callable[[Customer], Decimal] | None, unapplied: Decimal) -> CreditPlan:
    """What pays a new invoice of `total` billing entries summing to `billed` (negative).

    1. Money in that no invoice has used yet (selectors.unapplied_money, never below zero here), the one
       figure finance's allocations and paying with credits are held to as well, all under the customer's
       lock: money finance already allocated is not in it, so the run never applies it a second time.
       Issuing the new invoice moves amount due and outstanding by its total, so the figure is the same
       before and after: it is computed before the writes. Of it, first what is not payment cash
       (`from_due`: credit notes on account, `individual` customers' top-ups: prepaid credit pays usage
       first), then the payments' unallocated cash (`from_payments`, given by `cash`, finance's
       CashSource.available; finance allocates it). Without `cash` all of it counts as credit.
    2. For `consolidated` customers, unbilled credit once the entries are billed, less what open reservations
       hold (calls in flight keep their credit).
    `unapplied`: the money in no invoice has used yet, never below 0 (the chunk reads it for all its customers
    in one query: selectors.unapplied_due_credit_of)."""
    outstanding = total
    payments = min(cash(customer), unapplied) if cash is not None and unapplied > ZERO and outstanding > ZERO else ZERO
    from_due = min(unapplied - payments, outstanding)
    outstanding -= from_due
    from_payments = min(payments, outstanding)
    outstanding -= from_payments
    from_unbilled = ZERO
    if customer.invoice_setup == InvoiceSetup.CONSOLIDATED and outstanding > ZERO:
        unbilled_after = customer.amount_unbilled - billed
        from_unbilled = max(min(unbilled_after - customer.amount_reserved, outstanding), ZERO)
    return CreditPlan(from_due=from_due, from_unbilled=from_unbilled, from_payments=from_payments)


def bill_customer_period(*, customer_id: int, period: str | dt.date, actor: Actor, cash_source: CashSource | None,
                         at: dt.datetime | None = None, via_celery: bool = True,
                         send_email: bool = True) -> Invoice | None:
    """Bill one customer's month: the monthly invoice, issued and emailed (unless send_email is False: then
    issued as if marked as sent), with credit applied. Returns None (changing nothing) when there is nothing
    to bill, the customer is never invoiced, or the month is already billed. `cash_source` is required (no
    default, so no caller forgets payment cash): finance's PAYMENT_CASH, or None where no payment exists.
    It is the run's chunk of one customer (billing_run._bill_batch): the same reads, writes and audit event."""
    from .billing_run import _bill_batch

    at = at or timezone.now()
    result = _bill_batch(ended_period(period, at), [customer_id], actor=actor, cash_source=cash_source, at=at,
                         send_email=send_email, via_celery=via_celery)
    if result.failed:
        raise BillingError(result.failed[0][1])
    return Invoice.objects.get(pk=result.invoiced[0]) if result.invoiced else None


@dataclass
class BillingRunResult:
    period: dt.date
    candidates: int = 0
    invoiced: list[int] = field(default_factory=list)
    nothing_to_bill: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.period:%Y-%m}: {self.candidates} customers, {len(self.invoiced)} invoices issued, "
                f"{self.nothing_to_bill} with nothing to bill, {len(self.failed)} failed")
        return text + "".join(f"\n  customer #{cid}: {msg}" for cid, msg in self.failed)


def monthly_billing_run(*, period: str | dt.date, actor: Actor, cash_source: CashSource | None,
                        at: dt.datetime | None = None, customer_ids: Iterable[int] | None = None,
                        via_celery: bool = True, send_email: bool = True, chunk_size: int | None = None,
                        progress: Callable[[BillingRunResult], None] | None = None) -> BillingRunResult:
    """Bill every candidate customer of the period (selectors.billing_candidates: one query) in this process,
    a chunk at a time (services.billing_run.bill_chunk: one transaction per chunk, one audit event per
    invoice). A customer that fails is reported and the others are billed; running the same period again
    bills only what is left. `progress` is called after each chunk with the result so far. The workers bill
    the same chunks through a BillingRun (services.billing_run.run_chunk)."""
    from .billing_run import CHUNK_SIZE, bill_chunk

    at = at or timezone.now()
    period = ended_period(period, at)
    ids = list(customer_ids) if customer_ids is not None else billing_candidates(period)
    result = BillingRunResult(period=period, candidates=len(ids))
    size = chunk_size or CHUNK_SIZE
    for i in range(0, len(ids), size):
        chunk = bill_chunk(period=period, customer_ids=ids[i:i + size], actor=actor, cash_source=cash_source,
                           at=at, send_email=send_email, via_celery=via_celery)
        result.invoiced += chunk.invoiced
        result.nothing_to_bill += chunk.nothing_to_bill
        result.failed += chunk.failed
        if progress is not None:
            progress(result)
    return result
