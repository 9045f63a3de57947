"""Reads for the finance pages: lists with their filters, the payment page, invoices a payment can be
allocated to, the allocation preview, a customer's credit position and the aged receivables report.
Nothing here writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from customers.models import Customer, InvoiceSetup
from customers.money import ZERO
from customers.selectors import usable_credits_if
from invoices.models import OPEN_STATUSES, Invoice, InvoiceStatus, InvoiceType
from invoices.selectors import unapplied_money

from .models import Allocation, CreditNote, Payment, TopUp, Withdrawal

MONEY = DecimalField(max_digits=20, decimal_places=6)
UNALLOCATED = ExpressionWrapper(F("amount") - F("amount_allocated") - F("amount_topped_up"), output_field=MONEY)
OUTSTANDING = ExpressionWrapper(F("total") - F("amount_paid") - F("amount_credited"), output_field=MONEY)


# --- A customer's credit position --------------------------------------------------------------------------
def unallocated_cash(customer: Customer) -> Decimal:
    """What the customer's assigned payments still have unallocated (not allocated to an invoice, not turned
    into credits): the cash part of the money in that no invoice has used yet. One query. The billing run
    asks for it too (services.billing.PAYMENT_CASH) and allocates it to the monthly invoice as ordinary
    payment allocations (services.allocation.allocate_cash_locked), so a payment's unallocated amount is
    always money still free to settle an invoice."""
    return (Payment.objects.filter(customer_id=customer.pk, deleted_at__isnull=True)
            .aggregate(s=Sum(UNALLOCATED))["s"] or ZERO)


@dataclass(frozen=True)
class CreditPosition:
    """What a customer has with us beyond what they owe, from their figures and open documents.

    credit_balance = current balance + outstanding on open non-top-up invoices - unallocated cash - reserved

    The current balance counts open invoices as debt and unallocated payments as CR; adding the first back
    and taking the second out leaves the credits proper: top-ups, account credit notes, minus withdrawals,
    credit already used on invoices, usage not yet invoiced and reservations. Every operation moves it as
    expected: assigning a payment (+x due, +x unallocated) or sending an invoice (-x due, +x outstanding)
    leaves it; a top-up (-x unallocated) raises it; a call, a withdrawal or paying an invoice with credits
    lowers it; allocating a payment (-x outstanding, -x unallocated) leaves it. It excludes the credit limit
    (borrowed, not the customer's).

    `unapplied` is the money in that no invoice has used yet (invoices.selectors.unapplied_money: amount due
    + outstanding); it holds the unallocated cash and `free_credit`, the rest of it (an `individual`
    customer's top-up credit, credit notes on account, credit moved over from unbilled)."""

    customer: Customer
    unallocated_cash: Decimal
    open_outstanding: Decimal
    credit_balance: Decimal

    @property
    def unapplied(self) -> Decimal:
        return self.customer.amount_due + self.open_outstanding

    @property
    def free_credit(self) -> Decimal:
        """Unapplied money on the billed side that is not payment cash."""
        return self.unapplied - self.unallocated_cash

    @property
    def available_for_invoices(self) -> Decimal:
        """What invoice_pay_with_credits can use: unallocated cash first, then the credit balance."""
        return self.unallocated_cash + max(self.credit_balance, ZERO)

    @property
    def withdrawable(self) -> Decimal:
        """max(0, min(amount due, credit balance, free credit)); see services/withdrawals.py."""
        return max(ZERO, min(self.customer.amount_due, self.credit_balance, self.free_credit))


def credit_position(customer: Customer) -> CreditPosition:
    """Two aggregate queries. Under the customer's lock (the services) the figures cannot move meanwhile."""
    unallocated = unallocated_cash(customer)
    outstanding = unapplied_money(customer) - customer.amount_due
    balance = customer.current_balance + outstanding - unallocated - customer.amount_reserved
    return CreditPosition(customer=customer, unallocated_cash=unallocated, open_outstanding=outstanding,
                          credit_balance=balance)


# --- Payments -----------------------------------------------------------------------------------------------
def payments() -> QuerySet[Payment]:
    """The payment list, newest first (finance.filters.PaymentFilterSet filters it)."""
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
    from .rules import AllocationError, check_allocation, normalise_lines

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
                  currency=invoice.currency, deleted_at__isnull=True)
          .annotate(unallocated=UNALLOCATED).filter(unallocated__gt=0))
    if invoice.type == InvoiceType.TOP_UP:
        qs = qs.filter(unallocated__gte=invoice.amount_outstanding)
    return list(qs.order_by("customer_id", "-received_date", "-id")[:100])


# --- Credit notes and withdrawals -----------------------------------------------------------------------
def credit_notes() -> QuerySet[CreditNote]:
    """The credit note list, newest first (finance.filters.CreditNoteFilterSet filters it)."""
    return CreditNote.objects.select_related("customer", "invoice").order_by("-issue_date", "-id")


def withdrawals() -> QuerySet[Withdrawal]:
    """The withdrawal list, newest first (finance.filters.WithdrawalFilterSet filters it)."""
    return Withdrawal.objects.select_related("customer").order_by("-paid_date", "-id")


# --- Aged receivables ----------------------------------------------------------------------------------------
BUCKETS = (("current", "Current"), ("d1_30", "1-30"), ("d31_60", "31-60"), ("d61_90", "61-90"),
           ("d90_plus", "90+"))


@dataclass
class AgedRow:
    customer_id: int
    name: str
    code: str
    currency: str
    current: Decimal = ZERO
    d1_30: Decimal = ZERO
    d31_60: Decimal = ZERO
    d61_90: Decimal = ZERO
    d90_plus: Decimal = ZERO
    unallocated_cash: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.current + self.d1_30 + self.d31_60 + self.d61_90 + self.d90_plus

    def bucket_values(self) -> list[Decimal]:
        return [getattr(self, key) for key, _ in BUCKETS]


@dataclass
class AgedReport:
    as_of: dt.date
    rows: Sequence[AgedRow]  # a list (history) or AgedRows (the view: fetched a slice at a time)
    totals: dict[str, dict[str, Decimal]]  # per currency: bucket -> sum
    refreshed_at: dt.datetime | None = None  # from the view: when it was refreshed; None when rebuilt now


def _totals(rows: Sequence[AgedRow]) -> dict[str, dict[str, Decimal]]:
    totals: dict[str, dict[str, Decimal]] = {}
    for r in rows:
        t = totals.setdefault(r.currency, _zero_totals())
        for key, _ in BUCKETS:
            t[key] += getattr(r, key)
        t["total"] += r.total
        t["unallocated_cash"] += r.unallocated_cash
        t["credits"] += r.credits
    return dict(sorted(totals.items()))


def _zero_totals() -> dict[str, Decimal]:
    return {k: ZERO for k, _ in BUCKETS} | {"total": ZERO, "unallocated_cash": ZERO, "credits": ZERO}


def aged_receivables(as_of: dt.date, *, customer_q: str = "", currency: str = "",
                     window: tuple[int, int | None] = (0, None)) -> AgedReport:
    """Outstanding per customer by days past due on `as_of`, with the cash not yet allocated and each
    customer's credit balance beside it; totals per currency over all the customers. The day the view
    finance_agedreceivable was last refreshed on (today, refreshed every 5 minutes and on demand) is read
    from it, as of its refresh (aged_receivables_view, two queries); any other day, or today before the view
    holds it, is rebuilt from the rows (aged_receivables_history). `window` (offset, limit) is the slice of
    rows the caller will show (a page), fetched with the totals by the same query."""
    if as_of == timezone.localdate():
        report = aged_receivables_view(as_of, customer_q=customer_q, currency=currency, window=window)
        if report is not None:
            return report
    return aged_receivables_history(as_of, customer_q=customer_q, currency=currency)


# --- The day the view holds: finance_agedreceivable (finance/sql/aged_receivables.sql) --------------------
# One statement: the refresh's row (customer id 0: which day, when), the totals per currency with their count
# of customers (for the paginator), and the requested slice in name order. Every customer or one currency:
# the totals are the view's own rows and the slice is read by the customers' numbers (any page, the last too,
# is 25 index entries); a search sums and pages the customers it finds.
_AGED_VIEW_SQL = """
(SELECT NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,
        NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::bigint, as_of, refreshed_at
   FROM finance_agedreceivable WHERE customer_id = 0)
UNION ALL
({totals})
UNION ALL
(SELECT customer_id, name, code, currency, current, d1_30, d31_60, d61_90, d90_plus, unallocated_cash, credits,
        NULL, NULL, NULL
   FROM finance_agedreceivable WHERE {rows})
"""
_AGED_VIEW_TOTALS = """
SELECT NULL, NULL, NULL, currency, current, d1_30, d31_60, d61_90, d90_plus, unallocated_cash, credits, customers,
       NULL, NULL
  FROM finance_agedreceivable WHERE customer_id < 0 {currency}"""
_AGED_VIEW_SEARCH_TOTALS = """
SELECT NULL, NULL, NULL, currency, SUM(current), SUM(d1_30), SUM(d31_60), SUM(d61_90), SUM(d90_plus),
       SUM(unallocated_cash), SUM(credits), COUNT(*), NULL, NULL
  FROM finance_agedreceivable WHERE customer_id > 0 {search} GROUP BY currency"""


class AgedRows:
    """The view's rows without loading them all: len() from the totals, a slice by one more query (the
    window asked for came with the totals), iteration (CSV) by one query for all of them."""

    def __init__(self, fetch, count: int, window: tuple[int, list[AgedRow]]):
        self._fetch = fetch  # (offset, limit | None) -> (totals, count, rows)
        self._count = count
        self._window = window

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index:index + 1][0] if index >= 0 else list(self)[index]
        start, stop, step = index.indices(self._count)
        offset, rows = self._window
        if step == 1 and offset <= start and stop <= offset + len(rows):
            return rows[start - offset:stop - offset]
        return self._fetch(start, max(stop - start, 0))[2][::step]

    def __iter__(self):
        offset, rows = self._window
        if offset == 0 and len(rows) == self._count:
            return iter(rows)
        return iter(self._fetch(0, None)[2])


def aged_receivables_view(as_of: dt.date, *, customer_q: str = "", currency: str = "",
                          window: tuple[int, int | None] = (0, None)) -> AgedReport | None:
    """aged_receivables from the view, as of its last refresh, or None when the view holds another day than
    `as_of` or was never refreshed. Two queries (is it filled; then the report). A customer's invoices and
    payments are in its currency (finance.rules, and a currency cannot change once the ledger has entries), so
    the currency filter is the customer's."""
    from django.db import connection

    params: dict[str, object] = {"currency": currency}
    in_currency = "AND currency = %(currency)s" if currency else ""
    if customer_q:
        params["like"] = f"%{connection.ops.prep_for_like_query(customer_q)}%"
        search = f"{in_currency} AND (UPPER(name) LIKE UPPER(%(like)s) OR UPPER(code) LIKE UPPER(%(like)s))"
        sql = _AGED_VIEW_SQL.format(totals=_AGED_VIEW_SEARCH_TOTALS.format(search=search),
                                    rows=f"customer_id > 0 {search} ORDER BY sort_name, customer_id "
                                         "LIMIT %(limit)s OFFSET %(offset)s")
    else:
        number = "currency_position" if currency else "position"
        sql = _AGED_VIEW_SQL.format(totals=_AGED_VIEW_TOTALS.format(currency=in_currency),
                                    rows=f"{number} > %(offset)s AND {number} <= %(offset)s + %(limit)s "
                                         f"{in_currency} ORDER BY {number}")
    held: list[tuple[dt.date, dt.datetime]] = []

    def fetch(offset: int, limit: int | None):
        totals: dict[str, dict[str, Decimal]] = {}
        count = 0
        rows: list[AgedRow] = []
        with connection.cursor() as cursor:  # no limit (the CSV): more rows than any report has
            cursor.execute(sql, {**params, "offset": offset, "limit": 2**62 if limit is None else limit})
            for cid, name, code, cur, b0, b1, b2, b3, b4, cash, credits, n, day, refreshed_at in cursor.fetchall():
                if day is not None:
                    held[:] = [(day, refreshed_at)]
                elif cid is None:
                    totals[cur] = {"current": b0, "d1_30": b1, "d31_60": b2, "d61_90": b3, "d90_plus": b4,
                                   "total": b0 + b1 + b2 + b3 + b4, "unallocated_cash": cash, "credits": credits}
                    count += n
                else:
                    rows.append(AgedRow(customer_id=cid, name=name, code=code, currency=cur, current=b0, d1_30=b1,
                                        d31_60=b2, d61_90=b3, d90_plus=b4, unallocated_cash=cash, credits=credits))
        return dict(sorted(totals.items())), count, rows

    with connection.cursor() as cursor:  # created empty: filled by its first refresh
        cursor.execute("SELECT relispopulated FROM pg_class WHERE oid = 'finance_agedreceivable'::regclass")
        if not cursor.fetchone()[0]:
            return None
    offset, limit = window
    totals, count, rows = fetch(offset, limit)
    if not held or held[0][0] != as_of:
        return None
    return AgedReport(as_of=as_of, rows=AgedRows(fetch, count, (offset, rows)), totals=totals,
                      refreshed_at=held[0][1])

# --- As of a past day: rebuilt from the rows ---------------------------------------------------------------
# The owed amount of each invoice (and the cash left on each payment) is computed ONCE, from the allocations,
# credit notes and top-ups aggregated in one pass each, then summed per customer and bucket. (Referencing an
# annotation of correlated subqueries in the filter and in five bucket sums made PostgreSQL evaluate them a
# dozen times per invoice: 23 s for the page at 300,000 invoices, bench/README.md "Pages under load".)
_AGED_INVOICES_SQL = """
WITH inv AS ({invoices}),
paid AS (SELECT invoice_id, SUM(amount) AS s
           FROM (SELECT invoice_id, amount FROM finance_allocation
                  WHERE created_at < %s AND (reversed_at IS NULL OR reversed_at >= %s)
                 UNION ALL  -- credit the billing run applied (invoices.CreditApplication): paid too
                 SELECT invoice_id, amount FROM invoices_creditapplication WHERE created_at < %s) applied
          GROUP BY invoice_id),
credited AS (SELECT invoice_id, SUM(amount) AS s FROM finance_creditnote
              WHERE created_at < %s AND invoice_id IS NOT NULL GROUP BY invoice_id),
owed AS (SELECT inv.customer_id, inv.due_date, inv.total - COALESCE(paid.s, 0) - COALESCE(credited.s, 0) AS owed
           FROM inv LEFT JOIN paid ON paid.invoice_id = inv.id LEFT JOIN credited ON credited.invoice_id = inv.id)
SELECT o.customer_id, c.name, c.code, c.currency,
       COALESCE(SUM(o.owed) FILTER (WHERE o.due_date >= %s), 0),
       COALESCE(SUM(o.owed) FILTER (WHERE o.due_date <= %s AND o.due_date >= %s), 0),
       COALESCE(SUM(o.owed) FILTER (WHERE o.due_date <= %s AND o.due_date >= %s), 0),
       COALESCE(SUM(o.owed) FILTER (WHERE o.due_date <= %s AND o.due_date >= %s), 0),
       COALESCE(SUM(o.owed) FILTER (WHERE o.due_date <= %s), 0)
  FROM owed o JOIN customers_customer c ON c.id = o.customer_id
 WHERE o.owed > 0
 GROUP BY o.customer_id, c.name, c.code, c.currency
"""
_AGED_CASH_SQL = """
WITH pay AS ({payments}),
allocated AS (SELECT payment_id, SUM(amount) AS s FROM finance_allocation
               WHERE payment_id IS NOT NULL AND created_at < %s AND (reversed_at IS NULL OR reversed_at >= %s)
               GROUP BY payment_id),
topped AS (SELECT payment_id, SUM(amount) AS s FROM finance_topup
            WHERE invoice_id IS NULL AND created_at < %s AND (removed_at IS NULL OR removed_at >= %s)
            GROUP BY payment_id),
left_ AS (SELECT pay.customer_id, pay.amount - COALESCE(allocated.s, 0) - COALESCE(topped.s, 0) AS left_
            FROM pay LEFT JOIN allocated ON allocated.payment_id = pay.id LEFT JOIN topped ON topped.payment_id = pay.id)
SELECT l.customer_id, c.name, c.code, c.currency, SUM(l.left_)
  FROM left_ l JOIN customers_customer c ON c.id = l.customer_id
 WHERE l.left_ > 0
 GROUP BY l.customer_id, c.name, c.code, c.currency
"""


def aged_receivables_history(as_of: dt.date, *, customer_q: str = "", currency: str = "") -> AgedReport:
    """aged_receivables for any day, from what was true at the end of that day:
    invoices (not top-up) sent by then and not voided by then, less the allocations standing then, the credit
    the billing run applied by then and the credit notes issued by then. One grouped query with conditional aggregation by due date, plus one for
    the cash still unallocated then (payments received by then, less allocations and top-ups standing
    then: the billing run's use of a payment's cash is an allocation too). The credits column is today's
    credit balance (it has no history to rebuild)."""
    from django.db import connection

    end = timezone.make_aware(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min))
    invoices = (Invoice.objects.exclude(type=InvoiceType.TOP_UP).exclude(status=InvoiceStatus.DRAFT)
                .filter(sent_at__lt=end, issue_date__lte=as_of)
                .filter(Q(voided_at__isnull=True) | Q(voided_at__gte=end) | Q(amount_credited__gt=0)))
    if customer_q:
        invoices = invoices.filter(Q(customer__name__icontains=customer_q) | Q(customer__code__icontains=customer_q))
    if currency:
        invoices = invoices.filter(currency=currency)
    inv_sql, inv_params = invoices.order_by().values("id", "customer_id", "total", "due_date").query.sql_with_params()
    day = dt.timedelta(days=1)
    bounds = [as_of, as_of - day, as_of - 30 * day, as_of - 31 * day, as_of - 60 * day, as_of - 61 * day,
              as_of - 90 * day, as_of - 91 * day]
    rows: dict[int, AgedRow] = {}
    with connection.cursor() as cursor:
        cursor.execute(_AGED_INVOICES_SQL.format(invoices=inv_sql), [*inv_params, end, end, end, end, *bounds])
        for cid, name, code, cur, current, d1_30, d31_60, d61_90, d90_plus in cursor.fetchall():
            rows[cid] = AgedRow(customer_id=cid, name=name, code=code, currency=cur, current=current, d1_30=d1_30,
                                d31_60=d31_60, d61_90=d61_90, d90_plus=d90_plus)
        # Cash received by then and not yet allocated / topped up then, per customer.
        cash = (Payment.objects.filter(customer__isnull=False, received_date__lte=as_of)
                .filter(Q(deleted_at__isnull=True) | Q(deleted_at__gte=end)))
        if customer_q:
            cash = cash.filter(Q(customer__name__icontains=customer_q) | Q(customer__code__icontains=customer_q))
        if currency:
            cash = cash.filter(currency=currency)
        pay_sql, pay_params = cash.order_by().values("id", "customer_id", "amount").query.sql_with_params()
        cursor.execute(_AGED_CASH_SQL.format(payments=pay_sql), [*pay_params, end, end, end, end])
        for cid, name, code, cur, left in cursor.fetchall():
            row = rows.setdefault(cid, AgedRow(customer_id=cid, name=name, code=code, currency=cur))
            row.unallocated_cash = left
    for customer_id, balance in credit_balances(list(rows)).items():
        rows[customer_id].credits = balance
    ordered = sorted(rows.values(), key=lambda r: (r.name.lower(), r.customer_id))
    return AgedReport(as_of=as_of, rows=ordered, totals=_totals(ordered))


def credit_balances(customer_ids: list[int]) -> dict[int, Decimal]:
    """credit_position(...).credit_balance for many customers in three queries (lists and reports)."""
    if not customer_ids:
        return {}
    outstanding = dict(Invoice.objects.open_receivable().filter(customer_id__in=customer_ids)
                       .values("customer_id").annotate(s=Sum(OUTSTANDING))
                       .order_by().values_list("customer_id", "s"))
    unallocated = dict(Payment.objects.filter(customer_id__in=customer_ids, deleted_at__isnull=True)
                       .values("customer_id").annotate(s=Sum(UNALLOCATED)).order_by()
                       .values_list("customer_id", "s"))
    return {c.pk: c.current_balance + (outstanding.get(c.pk) or ZERO) - (unallocated.get(c.pk) or ZERO)
            - c.amount_reserved for c in Customer.objects.filter(pk__in=customer_ids)}


# --- Consistency (check_finance, check_ledger, tests) ---------------------------------------------------------
# Per customer, from the rows (not the cached totals): the money in on the billed side (every `due` entry but
# the invoices' own totals: payments assigned, corrections, credit notes, credit moved over from unbilled,
# withdrawals, the due leg of top-ups and their removal, individual customers' top-ups) against everything
# applied to their purchase and monthly invoices (active allocations, the billing run's credit applications,
# credit notes against an invoice). Applied more than came in means some money settled two invoices.
# Top-up invoices are deposits: provisioning one moves money into credit, it settles no debt.
_MONEY_APPLIED_SQL = """
WITH applied AS (
    SELECT customer_id, SUM(amount) AS s FROM (
        SELECT a.customer_id, a.amount
          FROM finance_allocation a JOIN invoices_invoice i ON i.id = a.invoice_id
         WHERE a.reversed_at IS NULL AND i.type <> 'top_up'
        UNION ALL
        SELECT customer_id, amount FROM invoices_creditapplication
        UNION ALL
        SELECT customer_id, amount FROM finance_creditnote WHERE invoice_id IS NOT NULL
    ) x GROUP BY customer_id
), money_in AS (  -- one pass over the ledger (probing it per customer was 69,544 index scans: 3.3 s)
    SELECT t.customer_id, SUM(t.amount) AS s
      FROM customers_transaction t
     WHERE t.bucket = 'due' AND t.kind NOT IN ('invoice', 'invoice_void')
     GROUP BY t.customer_id
)
SELECT c.id, c.code, COALESCE(m.s, 0), ap.s
  FROM applied ap
  JOIN customers_customer c ON c.id = ap.customer_id
  LEFT JOIN money_in m ON m.customer_id = ap.customer_id
 WHERE ap.s > COALESCE(m.s, 0)
 ORDER BY c.id
"""


# Per customer, from the cached totals: the payments' unallocated cash is part of the money in that no invoice
# has used yet (amount due + outstanding on open purchase / monthly invoices), so it can never be more. More
# means some of that cash already paid an invoice without an allocation saying so (as the billing run's credit
# did before it allocated payments' cash), and finance would let it be allocated a second time.
_CASH_SQL = """
WITH cash AS (
    SELECT customer_id, SUM(amount - amount_allocated - amount_topped_up) AS s
      FROM finance_payment
     WHERE customer_id IS NOT NULL AND deleted_at IS NULL
     GROUP BY customer_id
    HAVING SUM(amount - amount_allocated - amount_topped_up) > 0
), owed AS (
    SELECT customer_id, SUM(total - amount_paid - amount_credited) AS s
      FROM invoices_invoice
     WHERE open_receivable AND customer_id IN (SELECT customer_id FROM cash)
     GROUP BY customer_id
)
SELECT c.id, c.code, cash.s, c.amount_due + COALESCE(owed.s, 0)
  FROM cash
  JOIN customers_customer c ON c.id = cash.customer_id
  LEFT JOIN owed ON owed.customer_id = cash.customer_id
 WHERE cash.s > c.amount_due + COALESCE(owed.s, 0)
 ORDER BY c.id
"""


def money_applied_mismatches() -> list[tuple[int, str, Decimal, Decimal]]:
    """Customers whose invoices were paid with more money than came in: (id, code, money in, applied).
    One query, set-based. Equivalent to invoices.selectors.unapplied_money < 0 when the cached totals are
    right (finance_mismatches checks those as well)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_MONEY_APPLIED_SQL)
        return list(cursor.fetchall())


def cash_mismatches() -> list[tuple[int, str, Decimal, Decimal]]:
    """Customers whose payments show more unallocated cash than the money in not yet used on an invoice:
    (id, code, unallocated cash, unapplied money). One query."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_CASH_SQL)
        return list(cursor.fetchall())


def _money_applied_lines() -> list[str]:
    lines = [f"customer {code} (#{pk}): {applied} applied to its invoices (allocations, credit applications, "
             f"credit notes) but only {money_in} came in; the same money settled more than one invoice"
             for pk, code, money_in, applied in money_applied_mismatches()]
    lines += [f"customer {code} (#{pk}): its payments show {cash} unallocated but only {unapplied} of the money in "
              "is not yet used on an invoice; part of that cash already paid an invoice without an allocation"
              for pk, code, cash, unapplied in cash_mismatches()]
    return lines


def money_applied_ledger_mismatches() -> list:
    """The same checks in check_ledger's terms (customers.selectors.Mismatch): check_ledger (finance's
    command) reports them after customers' ledger_mismatches."""
    from customers.selectors import Mismatch

    return [Mismatch("customer", f"{code} (#{pk})", f"{applied} applied to its invoices (allocations, credit "
                     f"applications, credit notes) exceeds the {money_in} that came in", None, None)
            for pk, code, money_in, applied in money_applied_mismatches()] + [
        Mismatch("customer", f"{code} (#{pk})", f"its payments show {cash} unallocated but only {unapplied} of the "
                 "money in is not yet used on an invoice", None, None)
        for pk, code, cash, unapplied in cash_mismatches()]


# Each cached finance total against its rows, set-based: the rows are summed once per table (GROUP BY) and joined
# to the objects once, instead of correlated subqueries per payment, per invoice and per top-up (12.6 s at
# 300,000 invoices and payments, bench/README.md "check_ledger"). Each statement keeps the order the lines were
# always reported in (the models' default ordering).
_PAYMENT_TOTALS_SQL = """
WITH allocated AS (SELECT payment_id, SUM(amount) AS s FROM finance_allocation
                    WHERE reversed_at IS NULL AND payment_id IS NOT NULL GROUP BY payment_id),
     topped AS (SELECT payment_id, SUM(amount) AS s FROM finance_topup
                 WHERE invoice_id IS NULL AND removed_at IS NULL GROUP BY payment_id)
SELECT p.id, p.amount_allocated, COALESCE(allocated.s, 0), p.amount_topped_up, COALESCE(topped.s, 0)
  FROM finance_payment p
  LEFT JOIN allocated ON allocated.payment_id = p.id
  LEFT JOIN topped ON topped.payment_id = p.id
 WHERE p.amount_allocated <> COALESCE(allocated.s, 0) OR p.amount_topped_up <> COALESCE(topped.s, 0)
 ORDER BY p.received_date DESC, p.id DESC
"""
_INVOICE_TOTALS_SQL = """
WITH allocated AS (SELECT invoice_id, SUM(amount) AS s FROM finance_allocation
                    WHERE reversed_at IS NULL GROUP BY invoice_id),
     applied AS (SELECT invoice_id, SUM(amount) AS s FROM invoices_creditapplication GROUP BY invoice_id),
     credited AS (SELECT invoice_id, SUM(amount) AS s FROM finance_creditnote
                   WHERE invoice_id IS NOT NULL GROUP BY invoice_id)
SELECT i.number, i.amount_paid, COALESCE(allocated.s, 0), COALESCE(applied.s, 0), i.amount_credited,
       COALESCE(credited.s, 0)
  FROM invoices_invoice i
  LEFT JOIN allocated ON allocated.invoice_id = i.id
  LEFT JOIN applied ON applied.invoice_id = i.id
  LEFT JOIN credited ON credited.invoice_id = i.id
 WHERE i.amount_paid <> COALESCE(allocated.s, 0) + COALESCE(applied.s, 0)
    OR i.amount_credited <> COALESCE(credited.s, 0)
 ORDER BY i.issue_date DESC, i.id DESC
"""
_PROVISIONING_SQL = """
WITH active AS (SELECT DISTINCT invoice_id FROM finance_topup WHERE invoice_id IS NOT NULL AND removed_at IS NULL)
SELECT i.number, i.provisioned_at, active.invoice_id IS NOT NULL
  FROM invoices_invoice i
  LEFT JOIN active ON active.invoice_id = i.id
 WHERE i.type = 'top_up'
   AND ((active.invoice_id IS NOT NULL AND i.provisioned_at IS NULL)
        OR (active.invoice_id IS NULL AND i.provisioned_at IS NOT NULL))
 ORDER BY i.issue_date DESC, i.id DESC
"""
_TOP_UP_LEDGER_SQL = """
WITH ledger AS (SELECT source_id, SUM(amount) FILTER (WHERE bucket = 'due') AS due,
                       SUM(amount) FILTER (WHERE bucket = 'unbilled') AS unbilled
                  FROM customers_transaction WHERE source_type = 'finance.topup' GROUP BY source_id),
     top_ups AS (SELECT t.id, t.created_at, COALESCE(ledger.due, 0) AS due, COALESCE(ledger.unbilled, 0) AS unbilled,
                        CASE WHEN t.posted_to_ledger AND t.removed_at IS NULL THEN t.amount ELSE 0 END AS expected
                   FROM finance_topup t LEFT JOIN ledger ON ledger.source_id = t.id)
SELECT id, due, unbilled, expected FROM top_ups
 WHERE unbilled <> expected OR due <> -expected
 ORDER BY created_at DESC, id DESC
"""


def finance_mismatches() -> list[str]:
    """Every cached finance total that differs from the rows it stands for (set-based, six queries):
    a payment's allocated / topped-up amounts, an invoice's paid / credited amounts (finance allocations,
    the billing run's credit applications, credit notes), provisioning flags, each top-up's ledger pair;
    and any customer whose invoices were applied more money than came in (money_applied_mismatches) or
    whose payments show more unallocated cash than the money in not yet used (cash_mismatches)."""
    from django.db import connection

    found: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(_PAYMENT_TOTALS_SQL)
        found += [f"payment #{pk}: allocated {allocated} vs rows {allocated_rows}, topped up {topped} vs rows "
                  f"{topped_rows}" for pk, allocated, allocated_rows, topped, topped_rows in cursor.fetchall()]
        cursor.execute(_INVOICE_TOTALS_SQL)
        found += [f"invoice {number}: paid {paid} vs allocations {allocated_rows} + credit applications "
                  f"{applied_rows}; credited {credited} vs credit notes {credited_rows}"
                  for number, paid, allocated_rows, applied_rows, credited, credited_rows in cursor.fetchall()]
        cursor.execute(_PROVISIONING_SQL)
        found += [f"top-up invoice {number}: provisioned_at {provisioned_at} but active provisioning "
                  f"{'exists' if has else 'missing'}" for number, provisioned_at, has in cursor.fetchall()]
        cursor.execute(_TOP_UP_LEDGER_SQL)
        found += [f"top-up #{pk}: ledger due {due} / unbilled {unbilled}, expected -{expected} / {expected}"
                  for pk, due, unbilled, expected in cursor.fetchall()]
    found += _money_applied_lines()
    return found
