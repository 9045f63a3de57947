"""Reads for the invoice pages, the PDF, the billing run and other apps. Constant query counts: lists use
select_related and annotations, never a query per row."""

from __future__ import annotations

import datetime as dt
import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from audit.models import AuditEvent
from common.lists import csv_text
from customers.models import (
    PURCHASE_KINDS,
    USAGE_KINDS,
    Bucket,
    Customer,
    InvoiceSetup,
    Notification,
    Transaction,
    TransactionKind,
)
from customers.money import ZERO

from .models import OUTSTANDING, Invoice, InvoiceLine, InvoiceType

SORTS = {
    "number": ("number",), "-number": ("-number",),
    "issue_date": ("issue_date", "id"), "-issue_date": ("-issue_date", "-id"),
    "due_date": ("due_date", "id"), "-due_date": ("-due_date", "-id"),
    "customer": ("customer__name", "-issue_date", "-id"), "-customer": ("-customer__name", "-issue_date", "-id"),
    "total": ("total", "id"), "-total": ("-total", "-id"),
    "status": ("status", "-issue_date", "-id"), "-status": ("-status", "-issue_date", "-id"),
}
DEFAULT_SORT = "-issue_date"

# What the monthly run bills, by invoice setup (DESIGN.md table): charges are negative entries.
CONSOLIDATED_CHARGE_KINDS = USAGE_KINDS | PURCHASE_KINDS | {TransactionKind.ADJUSTMENT}
BILLED_KINDS = {InvoiceSetup.INDIVIDUAL: USAGE_KINDS, InvoiceSetup.CONSOLIDATED: CONSOLIDATED_CHARGE_KINDS}


# --- the list ----------------------------------------------------------------------------------------------
def invoice_list() -> QuerySet[Invoice]:
    """The invoice list in its default order (invoices.filters.InvoiceFilterSet filters and sorts it)."""
    return Invoice.objects.select_related("customer").order_by(*SORTS[DEFAULT_SORT])


def invoice_csv_row(invoice: Invoice) -> list:
    return [invoice.number, invoice.get_type_display(), invoice.status_label,
            csv_text(invoice.customer.code), csv_text(invoice.customer.name), csv_text(invoice.name),
            invoice.issue_date.isoformat(), invoice.due_date.isoformat(),
            invoice.currency, invoice.subtotal, invoice.tax, invoice.total, invoice.amount_paid,
            invoice.amount_credited, invoice.amount_due]


INVOICE_CSV_HEADER = ["Number", "Type", "Status", "Customer code", "Customer", "Name", "Issue date", "Due date",
                      "Currency", "Subtotal", "Tax", "Total", "Amount paid", "Credited", "Amount due"]


# --- one invoice -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: Decimal


def invoice_figures(invoice: Invoice) -> list[Figure]:
    """The totals block, the same on the page and in the PDF (to the last digit)."""
    figures = [Figure("subtotal", "Subtotal", invoice.subtotal), Figure("tax", "Tax", invoice.tax),
               Figure("total", "Total", invoice.total), Figure("amount_paid", "Amount paid", invoice.amount_paid)]
    if invoice.amount_credited:
        figures.append(Figure("amount_credited", "Credit notes", invoice.amount_credited))
    figures.append(Figure("amount_due", "Amount due", invoice.amount_due))
    return figures


def invoice_detail(invoice_id: int) -> Invoice:
    return Invoice.objects.select_related("customer").get(pk=invoice_id)


def invoice_lines(invoice: Invoice) -> list[InvoiceLine]:
    return list(invoice.lines.order_by("position", "id"))


def invoice_notifications(invoice: Invoice) -> QuerySet[Notification]:
    return Notification.objects.filter(source_type="invoices.invoice", source_id=invoice.pk).order_by("-sent_at", "-id")


def invoice_history(invoice: Invoice, limit: int = 50) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type="invoices.invoice", object_id=str(invoice.pk)).order_by("-id")[:limit]


def invoice_transactions(invoice: Invoice, limit: int = 100) -> QuerySet[Transaction]:
    """The ledger entries the invoice posted (its total, its charges, credit applied) or billed one by one;
    the usage it bills in bulk is summed in its lines instead (see invoice_billed_usage)."""
    return Transaction.objects.filter(
        Q(billed_document=invoice.number) | Q(source_type="invoices.invoice", source_id=invoice.pk),
        customer_id=invoice.customer_id).exclude(kind__in=USAGE_KINDS, billed_document=invoice.number).order_by(
        "occurred_at", "id")[:limit]


def invoice_billed_usage(invoice: Invoice) -> dict:
    """How many usage entries the invoice bills, and their sum (one aggregate)."""
    from django.db.models import Count

    return Transaction.objects.filter(customer_id=invoice.customer_id, billed_document=invoice.number,
                                      kind__in=USAGE_KINDS).aggregate(count=Count("id"), total=Sum("amount"))


# What each entry the invoice posted stands for, in the words of the customer figures (seed 002: Expecting
# invoice = the unbilled amount, Amount due = the billed amount).
POSTED_LABELS = {
    TransactionKind.INVOICE: ("Invoice issued: the total owed, tax included", "Amount due"),
    TransactionKind.INVOICE_VOID: ("Invoice voided: the total is no longer owed", "Amount due"),
}


@dataclass(frozen=True)
class LedgerLine:
    """One ledger entry on the invoice page, said so that a charge and the invoice that bills it do not read
    as two charges: `billed` entries are charges posted when they happened (in Expecting invoice) that this
    invoice now bills (its total stands for them); the others are what issuing, crediting or voiding the
    invoice posted."""

    entry: Transaction
    billed: bool
    label: str
    counts_in: str


@dataclass(frozen=True)
class InvoiceLedger:
    billed: list[LedgerLine]
    posted: list[LedgerLine]
    usage_count: int
    usage_total: Decimal
    tax: Decimal  # the invoice's tax, as a charge (negative)

    @property
    def charges_total(self) -> Decimal:
        """Every charge the invoice bills (usage summed in its lines included): minus its subtotal."""
        return sum((line.entry.amount for line in self.billed), self.usage_total)

    @property
    def issued(self) -> Transaction | None:
        return next((line.entry for line in self.posted if line.entry.kind == TransactionKind.INVOICE), None)

    def __bool__(self) -> bool:
        return bool(self.billed or self.posted or self.usage_count)


def _ledger_line(entry: Transaction, invoice: Invoice) -> LedgerLine:
    kind = entry.get_kind_display()
    if entry.billed_document == invoice.number:
        return LedgerLine(entry, True, f"{kind}: charge billed by this invoice",
                          f"Billed by {invoice.number} (no longer in Expecting invoice)")
    if entry.kind in POSTED_LABELS:
        label, counts_in = POSTED_LABELS[entry.kind]
        return LedgerLine(entry, False, label, counts_in)
    if entry.kind == TransactionKind.CREDIT_APPLIED:
        if entry.bucket == Bucket.UNBILLED:
            return LedgerLine(entry, False, "Credit taken from Expecting invoice to pay this invoice",
                              "Expecting invoice")
        return LedgerLine(entry, False, "Credit applied to this invoice", "Amount due")
    return LedgerLine(entry, False, kind, entry.get_bucket_display())


def invoice_ledger(invoice: Invoice, limit: int = 100) -> InvoiceLedger:
    """The invoice's ledger entries, labelled and grouped (see LedgerLine), with the usage it bills in bulk
    summed: two queries whatever the number of entries."""
    lines = [_ledger_line(t, invoice) for t in invoice_transactions(invoice, limit)]
    usage = invoice_billed_usage(invoice) if invoice.type == InvoiceType.MONTHLY else {"count": 0, "total": None}
    return InvoiceLedger(billed=[line for line in lines if line.billed],
                         posted=[line for line in lines if not line.billed],
                         usage_count=usage["count"] or 0, usage_total=usage["total"] or ZERO, tax=-invoice.tax)


# --- credit available to pay invoices ----------------------------------------------------------------------
def open_invoices_outstanding(customer_id: int) -> Decimal:
    """What the customer's issued, unpaid purchase and monthly invoices still ask for."""
    return Invoice.objects.open_receivable().filter(customer_id=customer_id).aggregate(
        s=Sum(OUTSTANDING))["s"] or ZERO


def unapplied_money(customer: Customer) -> Decimal:
    """Money in that no invoice has used yet: THE figure every application of money to an invoice must fit
    within (the billing run's credit, finance's allocation of a payment, paying with credits), read under
    the customer's row lock by the services.

    The amount due nets what came in on the billed side (payments assigned, credit notes, unbilled credit
    moved over by CREDIT_APPLIED, `individual` customers' top-ups; less withdrawals and, for consolidated /
    none customers, the part of payments turned into unbilled credit) against the total of every issued
    purchase and monthly invoice. Adding back what the open ones still ask for leaves

        money in - (allocations + credit applications + credit notes on invoices) = amount due + outstanding

    so it is never negative while no money settles two invoices (check_finance reports it otherwise; see
    finance.checks.money_applied_mismatches). Issuing an invoice moves both terms by its total and leaves
    it; settling an invoice lowers it by the amount settled. Top-up invoices are deposits, not debts: not
    counted. Not clamped: a negative figure is a fault to report, not to hide."""
    return customer.amount_due + open_invoices_outstanding(customer.pk)


def unapplied_due_credit_of(customers: list[Customer]) -> dict[int, Decimal]:
    """The CR in each customer's amount due that no invoice has used yet (unapplied_money, never below 0), for
    many customers (locked by the caller, their amount due as loaded) in one query."""
    outstanding = dict(Invoice.objects.open_receivable().filter(customer_id__in=[c.pk for c in customers])
                       .order_by().values("customer_id").annotate(s=Sum(OUTSTANDING))
                       .values_list("customer_id", "s"))
    return {c.pk: max(c.amount_due + (outstanding.get(c.pk) or ZERO), ZERO) for c in customers}


# --- the monthly billing run -------------------------------------------------------------------------------
def period_bounds(period_start: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month as instants in the operator's time zone: [first day 00:00, next month's first day 00:00)."""
    tz = timezone.get_current_timezone()
    nxt = (period_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (dt.datetime.combine(period_start, dt.time.min, tzinfo=tz),
            dt.datetime.combine(nxt, dt.time.min, tzinfo=tz))


def _unbilled_charges(period_start: dt.date) -> QuerySet[Transaction]:
    """Unbilled charges (negative entries) up to the end of the period, earlier stragglers included."""
    _, end = period_bounds(period_start)
    return Transaction.objects.filter(bucket=Bucket.UNBILLED, billed_at__isnull=True, occurred_at__lt=end,
                                      amount__lt=0)


def billable_entries(customers: Iterable[Customer], period_start: dt.date) -> tuple[dict, dict]:
    """What the monthly run bills for each customer and period, for a whole chunk in two queries: its unbilled
    charges of the kinds its invoice setup bills (BILLED_KINDS; `none`: nothing) up to the period's end, as
    (id, kind, amount, description) in time order, and staff's reversals of them (customers.adjustment_post
    with reverses_id, whatever their date) as (id, reverses_id, amount); both by customer id."""
    kinds = {c.pk: BILLED_KINDS.get(c.invoice_setup, ()) for c in customers}
    entries: dict[int, list[tuple]] = defaultdict(list)
    rows = (_unbilled_charges(period_start).filter(customer_id__in=[pk for pk, k in kinds.items() if k])
            .order_by("customer_id", "occurred_at", "id")
            .values_list("customer_id", "id", "kind", "amount", "description"))
    for customer_id, *entry in rows:
        if entry[1] in kinds[customer_id]:
            entries[customer_id].append(tuple(entry))
    reversals: dict[int, list[tuple]] = defaultdict(list)
    entry_ids = [e[0] for rows in entries.values() for e in rows]
    if entry_ids:
        for customer_id, *rev in Transaction.objects.filter(
                customer_id__in=list(entries), bucket=Bucket.UNBILLED, billed_at__isnull=True,
                reverses_id__in=entry_ids).values_list("customer_id", "id", "reverses_id", "amount"):
            reversals[customer_id].append(tuple(rev))
    return entries, reversals


def billing_candidates(period_start: dt.date) -> list[int]:
    """Ids of the customers the run bills for the period, in one query: invoiced setups with an unbilled
    charge of a kind their setup bills before the period's end, and no monthly invoice for the period yet."""
    unbilled = _unbilled_charges(period_start).filter(customer_id=OuterRef("pk"))
    billed = Invoice.objects.filter(customer_id=OuterRef("pk"), type=InvoiceType.MONTHLY, period_start=period_start)
    billable = reduce(operator.or_, (Q(invoice_setup=setup) & Exists(unbilled.filter(kind__in=kinds))
                                     for setup, kinds in BILLED_KINDS.items()))
    return list(Customer.objects.filter(billable).exclude(Exists(billed)).order_by("pk").values_list("pk", flat=True))


# --- the run's safety net: months closed and not billed ----------------------------------------------------
# The run bills a month on days 1, 2 and 3 of the next (CELERY_BEAT_SCHEDULE "monthly-billing-run"); from day 4
# a month is closed: a customer with charges of it still unbilled and no monthly invoice for it (nor a later
# one, which would have billed them as stragglers) was missed.
BILLING_DAYS = 3


@dataclass(frozen=True)
class UnbilledMonth:
    customer_id: int
    code: str
    name: str
    period: dt.date  # the latest closed month with unbilled charges
    entries: int
    amount: Decimal  # their sum (negative: charges)
    last_billed: dt.date | None  # the latest month with a monthly invoice

    def __str__(self) -> str:
        return (f"{self.code} (#{self.customer_id}): {self.entries} unbilled charges ({self.amount}) up to "
                f"{self.period:%Y-%m} and no monthly invoice for it (last billed: "
                f"{f'{self.last_billed:%Y-%m}' if self.last_billed else 'never'})")


def closed_before(at: dt.datetime | None = None) -> dt.date:
    """The first month not closed yet: this month, or last month until its billing days are over."""
    today = timezone.localdate(at or timezone.now())
    this_month = today.replace(day=1)
    return this_month if today.day > BILLING_DAYS else (this_month - dt.timedelta(days=1)).replace(day=1)


_UNBILLED_CLOSED_SQL = """
SELECT c.id, c.code, c.name, date_trunc('month', max(t.occurred_at AT TIME ZONE %(tz)s))::date, count(*),
       sum(t.amount), (SELECT max(i.period_start) FROM invoices_invoice i
                        WHERE i.customer_id = c.id AND i.type = 'monthly') AS last_billed
  FROM customers_transaction t JOIN customers_customer c ON c.id = t.customer_id
 WHERE t.bucket = 'unbilled' AND t.billed_at IS NULL AND t.amount < 0 AND t.occurred_at < %(cutoff)s
   AND ((c.invoice_setup = 'individual' AND t.kind = ANY(%(usage)s))
        OR (c.invoice_setup = 'consolidated' AND t.kind = ANY(%(consolidated)s)))
 GROUP BY c.id
HAVING date_trunc('month', max(t.occurred_at AT TIME ZONE %(tz)s))::date
       > coalesce((SELECT max(i.period_start) FROM invoices_invoice i
                    WHERE i.customer_id = c.id AND i.type = 'monthly'), '-infinity'::date)
 ORDER BY c.id
"""


def unbilled_closed_months(at: dt.datetime | None = None, *, limit: int | None = None) -> list[UnbilledMonth]:
    """Customers the billing run missed: unbilled charges (what their invoice setup bills) dated in a closed
    month, and no monthly invoice for that month or a later one. One query (check_ledger reports them; the
    dashboard can show the count and the first few)."""
    from django.db import connection

    cutoff = dt.datetime.combine(closed_before(at), dt.time.min, tzinfo=timezone.get_current_timezone())
    sql = _UNBILLED_CLOSED_SQL + (" LIMIT %(limit)s" if limit else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tz": str(timezone.get_current_timezone()), "cutoff": cutoff,
                             "usage": sorted(USAGE_KINDS), "consolidated": sorted(CONSOLIDATED_CHARGE_KINDS),
                             "limit": limit})
        return [UnbilledMonth(*row) for row in cursor.fetchall()]


# --- the billing runs pages --------------------------------------------------------------------------------
RUN_SORTS = {"started": ("started_at", "id"), "-started": ("-started_at", "-id"),
             "period": ("period", "started_at", "id"), "-period": ("-period", "-started_at", "-id")}
RUN_DEFAULT_SORT = "-started"
RUN_CSV_HEADER = ["run", "period", "trigger", "started_by", "started_at", "finished_at", "customers", "customers_done",
                  "invoices_issued", "nothing_to_bill", "failed", "failures_open"]
FAILURE_CSV_HEADER = ["run", "period", "customer_code", "customer", "error", "attempts", "first_failed_at",
                      "last_failed_at", "next_attempt_at", "resolved_at"]


def billing_run_list() -> QuerySet:
    """Billing runs, newest first, each with its counts summed over its chunks (done ones) and its open
    failures: a handful of runs a month, so the sums are subqueries per row of the page."""
    from django.db.models import IntegerField, Subquery
    from django.db.models.functions import Coalesce

    from .models import BillingRun, BillingRunChunk, BillingRunFailure, ChunkStatus

    def chunk_sum(column):
        return Coalesce(Subquery(BillingRunChunk.objects.filter(run=OuterRef("pk"), status=ChunkStatus.DONE)
                                 .order_by().values("run").annotate(s=Sum(column)).values("s"),
                                 output_field=IntegerField()), 0)

    open_failures = (BillingRunFailure.objects.filter(run=OuterRef("pk"), resolved_at__isnull=True).order_by()
                     .values("run").annotate(n=Count("id")).values("n"))
    return BillingRun.objects.annotate(
        invoices_issued=chunk_sum("invoiced"), nothing=chunk_sum("nothing_to_bill"), failed=chunk_sum("failed"),
        failures_open=Coalesce(Subquery(open_failures, output_field=IntegerField()), 0),
    ).annotate(customers_done=F("invoices_issued") + F("nothing") + F("failed")).order_by("-started_at", "-id")


def billing_run_csv_row(run) -> list:
    return [run.pk, f"{run.period:%Y-%m}", run.trigger, run.started_by, run.started_at.isoformat(),
            run.finished_at.isoformat() if run.finished_at else "", run.customers_total, run.customers_done,
            run.invoices_issued, run.nothing, run.failed, run.failures_open]


def billing_failure_list(run) -> QuerySet:
    return run.failures.select_related("customer").order_by("resolved_at", "customer__name", "pk")


def billing_failure_csv_row(failure) -> list:
    def iso(value):
        return value.isoformat() if value else ""

    return [failure.run_id, f"{failure.run.period:%Y-%m}", failure.customer.code, failure.customer.name, failure.error,
            failure.attempts, iso(failure.first_failed_at), iso(failure.last_failed_at), iso(failure.next_attempt_at),
            iso(failure.resolved_at)]
