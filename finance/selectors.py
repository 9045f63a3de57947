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

from common.ids import parse_id
from customers.models import Customer, InvoiceSetup
from customers.money import ZERO
from customers.selectors import usable_credits_if
from invoices.models import OPEN_STATUSES, Invoice, InvoiceStatus, InvoiceType
from invoices.selectors import unapplied_money

from .models import Allocation, CreditNote, Payment, PaymentStatus, TopUp, Withdrawal

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
def payments(*, q: str = "", customer_id: int | None = None, method: str = "", status: str = "",
             received_from: dt.date | None = None, received_to: dt.date | None = None) -> QuerySet[Payment]:
    """The payment list: a status (deleted payments only when asked for), a method, received dates, a search,
    a customer; newest first."""
    qs = Payment.objects.select_related("customer")
    qs = qs.filter(status=status) if status else qs.exclude(status=PaymentStatus.DELETED)
    if method:
        qs = qs.filter(method=method)
    if received_from:
        qs = qs.filter(received_date__gte=received_from)
    if received_to:
        qs = qs.filter(received_date__lte=received_to)
    if q:
        term = q.strip()
        cond = (Q(reference__icontains=term) | Q(invoice_number__icontains=term) | Q(remark__icontains=term)
                | Q(customer__name__icontains=term) | Q(customer__code__icontains=term))
        payment_id = parse_id(term.lstrip("#"))
        if payment_id:
            cond |= Q(pk=payment_id)
        qs = qs.filter(cond)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    return qs.order_by("-received_date", "-id")


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
def credit_notes(*, q: str = "", customer_id: int | None = None, kind: str = "",
                 issued_from: dt.date | None = None, issued_to: dt.date | None = None) -> QuerySet[CreditNote]:
    qs = CreditNote.objects.select_related("customer", "invoice")
    if q:
        term = q.strip()
        qs = qs.filter(Q(number__icontains=term) | Q(reason__icontains=term) | Q(customer__name__icontains=term)
                       | Q(customer__code__icontains=term) | Q(invoice__number__icontains=term))
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if kind == "invoice":
        qs = qs.filter(invoice__isnull=False)
    elif kind == "account":
        qs = qs.filter(invoice__isnull=True)
    if issued_from:
        qs = qs.filter(issue_date__gte=issued_from)
    if issued_to:
        qs = qs.filter(issue_date__lte=issued_to)
    return qs.order_by("-issue_date", "-id")


def withdrawals(*, q: str = "", customer_id: int | None = None, method: str = "",
                paid_from: dt.date | None = None, paid_to: dt.date | None = None) -> QuerySet[Withdrawal]:
    qs = Withdrawal.objects.select_related("customer")
    if q:
        term = q.strip()
        qs = qs.filter(Q(reference__icontains=term) | Q(remark__icontains=term) | Q(customer__name__icontains=term)
                       | Q(customer__code__icontains=term))
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if method:
        qs = qs.filter(method=method)
    if paid_from:
        qs = qs.filter(paid_date__gte=paid_from)
    if paid_to:
        qs = qs.filter(paid_date__lte=paid_to)
    return qs.order_by("-paid_date", "-id")


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
    rows: Sequence[AgedRow]  # a list (history) or AgedRows (today: fetched a slice at a time)
    totals: dict[str, dict[str, Decimal]]  # per currency: bucket -> sum


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
    customer's credit balance beside it; totals per currency over all the customers. As of today (the
    default) or a later day, nothing has happened since that the cached totals do not hold: the report reads
    the open invoices' cached amounts (aged_receivables_open, two queries). As of a past day it rebuilds that
    day from the rows (aged_receivables_history). `window` (offset, limit) is the slice of rows the caller
    will show (a page), fetched with the totals by the same query."""
    if as_of >= timezone.localdate():
        return aged_receivables_open(as_of, customer_q=customer_q, currency=currency, window=window)
    return aged_receivables_history(as_of, customer_q=customer_q, currency=currency)


# --- As of today: the open invoices' cached amounts -----------------------------------------------------------
# An invoice owes something exactly when it is open (sent or partially paid: invoices.settlement.status_for and
# the invoice_not_overpaid constraint), and its cached amount_paid (active allocations + the billing run's
# credit applications) and amount_credited (credit notes) are what the history rebuilds for today
# (check_finance checks them); a payment has unallocated cash exactly when its status says so. So today's
# report reads ~12,000 open invoices and ~1,000 payments through two partial covering indexes
# (invoice_open_receivable_idx, payment_unallocated_cash_idx: index-only scans) instead of every invoice,
# allocation, credit note and payment of the book. One statement: per-customer figures (each invoice's owed
# amount computed once and put in its bucket), the customers' rows joined once, then the totals per currency
# (with the row count, for the paginator) and the requested slice in name order. With a search it runs over
# every open invoice; for every customer (no search) it runs for the page's customers only ({only}), which
# _AGED_LISTED_SQL picks.
_AGED_OPEN_SQL = """
WITH inv_rows AS (  -- OFFSET 0: owed computed once per invoice, in the index's customer order (no hash)
    SELECT customer_id, total - amount_paid - amount_credited AS owed,
           CASE WHEN NOT (issue_date <= %(as_of)s AND sent_at < %(end)s AND total - amount_paid - amount_credited > 0
                          {inv_currency}) THEN NULL
                WHEN due_date >= %(as_of)s THEN 0 WHEN due_date >= %(d30)s THEN 1 WHEN due_date >= %(d60)s THEN 2
                WHEN due_date >= %(d90)s THEN 3 ELSE 4 END AS bucket
      FROM invoices_invoice
     WHERE status IN ('sent', 'partially_paid') AND NOT (type = 'top_up') {only}
     ORDER BY customer_id OFFSET 0
), inv AS (
    SELECT customer_id, SUM(owed) AS open_all, COUNT(bucket) AS counted,
           SUM(owed) FILTER (WHERE bucket = 0) AS b0, SUM(owed) FILTER (WHERE bucket = 1) AS b1,
           SUM(owed) FILTER (WHERE bucket = 2) AS b2, SUM(owed) FILTER (WHERE bucket = 3) AS b3,
           SUM(owed) FILTER (WHERE bucket = 4) AS b4
      FROM inv_rows GROUP BY customer_id
), cash AS (
    SELECT customer_id, SUM(amount - amount_allocated - amount_topped_up) AS cash_all,
           SUM(amount - amount_allocated - amount_topped_up) FILTER (WHERE received_date <= %(as_of)s
                                                                     {pay_currency}) AS cash
      FROM finance_payment
     WHERE status IN ('unallocated', 'partially_allocated') {only}
     GROUP BY customer_id
), r AS MATERIALIZED (
    SELECT c.id, c.name, c.code, c.currency,
           COALESCE(inv.b0, 0) AS b0, COALESCE(inv.b1, 0) AS b1, COALESCE(inv.b2, 0) AS b2,
           COALESCE(inv.b3, 0) AS b3, COALESCE(inv.b4, 0) AS b4, COALESCE(cash.cash, 0) AS cash,
           c.amount_unbilled + c.amount_due - c.amount_reserved + COALESCE(inv.open_all, 0)
             - COALESCE(cash.cash_all, 0) AS credits
      FROM inv FULL JOIN cash ON cash.customer_id = inv.customer_id
      JOIN customers_customer c ON c.id = COALESCE(inv.customer_id, cash.customer_id)
     WHERE (inv.counted > 0 OR cash.cash > 0) {customer_q}
)
(SELECT NULL::bigint, NULL, NULL, currency, SUM(b0), SUM(b1), SUM(b2), SUM(b3), SUM(b4), SUM(cash), SUM(credits),
        COUNT(*)
   FROM r GROUP BY currency)
UNION ALL
(SELECT id, name, code, currency, b0, b1, b2, b3, b4, cash, credits, NULL
   FROM r ORDER BY lower(name) COLLATE "C", id LIMIT %(limit)s OFFSET %(offset)s)
"""


class AgedRows:
    """Today's report rows without loading them all: len() from the totals, a slice by one more query (the
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


# Every customer (no search): who is in the report and in which order come from finance.ReceivableCustomer
# (kept by the database, one row per customer with an open invoice or cash left), so the page reads its 25
# customers by the name index and only their invoices and payments; the buckets come from what open invoices
# owe per currency and due date (finance.ReceivableAmount, deltas kept by the same triggers) and the cash from
# its covering index, without a customer in sight. An open invoice issued after the day is not owed on it yet:
# those (rare: an issue date set ahead) are subtracted from the counts and the amounts. (Every open invoice was
# sent before now, so before the end of today or any later day.)
_AGED_LISTED_SQL = """
WITH ahead AS MATERIALIZED (  -- open invoices issued after the day (rare): not owed on it yet
    SELECT customer_id, currency, due_date, total - amount_paid - amount_credited AS owed FROM invoices_invoice
     WHERE issue_date > %(as_of)s AND status IN ('sent', 'partially_paid') AND NOT (type = 'top_up') {inv_currency}
), listed AS NOT MATERIALIZED (  -- inlined where it is read: the page walks receivable_customer_order_idx
    SELECT s.customer_id, s.currency, s.sort_name FROM finance_receivablecustomer s
     WHERE (s.cash_payments > 0
            OR s.open_invoices > (SELECT count(*) FROM ahead a WHERE a.customer_id = s.customer_id)) {currency}
), counted AS (  -- how many are listed: every row (each has an open invoice or cash), less those whose every
                 -- open invoice is ahead of the day; not `listed` counted, whose test runs once per row
    SELECT currency, count(*) AS n FROM finance_receivablecustomer s WHERE TRUE {currency} GROUP BY currency
    UNION ALL
    SELECT s.currency, -count(*) FROM (SELECT customer_id, count(*) AS n FROM ahead GROUP BY customer_id) a
      JOIN finance_receivablecustomer s ON s.customer_id = a.customer_id
     WHERE s.cash_payments = 0 AND s.open_invoices <= a.n {currency}
     GROUP BY s.currency
), owed AS (  -- per currency and due date from the deltas (~300 folded rows), less what is not owed yet
    SELECT currency, SUM(owed) FILTER (WHERE due_date >= %(as_of)s) AS b0,
           SUM(owed) FILTER (WHERE due_date < %(as_of)s AND due_date >= %(d30)s) AS b1,
           SUM(owed) FILTER (WHERE due_date < %(d30)s AND due_date >= %(d60)s) AS b2,
           SUM(owed) FILTER (WHERE due_date < %(d60)s AND due_date >= %(d90)s) AS b3,
           SUM(owed) FILTER (WHERE due_date < %(d90)s) AS b4
      FROM (SELECT currency, due_date, owed FROM finance_receivableamount WHERE TRUE {inv_currency}
            UNION ALL
            SELECT currency, due_date, -owed FROM ahead) d
     GROUP BY currency
), cash AS (
    SELECT currency, SUM(amount - amount_allocated - amount_topped_up) AS cash FROM finance_payment
     WHERE status IN ('unallocated', 'partially_allocated') AND received_date <= %(as_of)s {pay_currency}
     GROUP BY currency
)
(SELECT n.currency, n.count, COALESCE(o.b0, 0), COALESCE(o.b1, 0), COALESCE(o.b2, 0), COALESCE(o.b3, 0),
        COALESCE(o.b4, 0), COALESCE(c.cash, 0), NULL::bigint
   FROM (SELECT currency, SUM(n)::bigint AS count FROM counted GROUP BY currency HAVING SUM(n) > 0) n
   LEFT JOIN owed o ON o.currency = n.currency LEFT JOIN cash c ON c.currency = n.currency)
UNION ALL
(SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, customer_id
   FROM listed ORDER BY sort_name, customer_id LIMIT %(limit)s OFFSET %(offset)s)
"""


def _open_totals(b0, b1, b2, b3, b4, cash, credits) -> dict[str, Decimal | None]:
    return {"current": b0, "d1_30": b1, "d31_60": b2, "d61_90": b3, "d90_plus": b4, "total": b0 + b1 + b2 + b3 + b4,
            "unallocated_cash": cash, "credits": credits}


def aged_receivables_open(as_of: dt.date, *, customer_q: str = "", currency: str = "",
                          window: tuple[int, int | None] = (0, None)) -> AgedReport:
    """aged_receivables for today or a later day, from the open invoices' cached amounts: the same figures as
    aged_receivables_history gives for that day. Every customer: two queries (_AGED_LISTED_SQL for the totals
    and the window's customers, _AGED_OPEN_SQL for their rows); a search: one (_AGED_OPEN_SQL over all the
    open invoices, the search applied to their customers). The credits total, which needs every listed
    customer's row, is given when the window is the whole report (the CSV) and is None for a page."""
    from django.db import connection

    end = timezone.make_aware(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min))
    day = dt.timedelta(days=1)
    params: dict[str, object] = {"as_of": as_of, "end": end, "d30": as_of - 30 * day, "d60": as_of - 60 * day,
                                 "d90": as_of - 90 * day, "currency": currency}
    extra = {"inv_currency": "AND currency = %(currency)s" if currency else "",
             "pay_currency": "AND currency = %(currency)s" if currency else "", "customer_q": "", "only": ""}
    if customer_q:
        params["like"] = f"%{connection.ops.prep_for_like_query(customer_q)}%"
        extra["customer_q"] = "AND (UPPER(c.name::text) LIKE UPPER(%(like)s) OR UPPER(c.code::text) LIKE UPPER(%(like)s))"

    def rows_and_totals(sql: str, offset: int, limit: int | None, **more):
        totals: dict[str, dict[str, Decimal]] = {}
        count = 0
        rows: list[AgedRow] = []
        with connection.cursor() as cursor:
            cursor.execute(sql, {**params, **more, "offset": offset, "limit": limit})
            for cid, name, code, cur, b0, b1, b2, b3, b4, cash, credits, n in cursor.fetchall():
                if cid is None:
                    totals[cur] = _open_totals(b0, b1, b2, b3, b4, cash, credits)
                    count += n
                else:
                    rows.append(AgedRow(customer_id=cid, name=name, code=code, currency=cur, current=b0, d1_30=b1,
                                        d31_60=b2, d61_90=b3, d90_plus=b4, unallocated_cash=cash, credits=credits))
        return dict(sorted(totals.items())), count, rows

    if customer_q:
        sql = _AGED_OPEN_SQL.format(**extra)

        def fetch(offset: int, limit: int | None):
            return rows_and_totals(sql, offset, limit)
    else:
        listed_sql = _AGED_LISTED_SQL.format(currency="AND s.currency = %(currency)s" if currency else "", **extra)
        rows_sql = _AGED_OPEN_SQL.format(**{**extra, "only": "AND customer_id = ANY(%(ids)s)"})

        def fetch(offset: int, limit: int | None):
            totals: dict[str, dict[str, Decimal]] = {}
            count = 0
            ids: list[int] = []
            with connection.cursor() as cursor:
                cursor.execute(listed_sql, {**params, "offset": offset, "limit": limit})
                for cur, n, b0, b1, b2, b3, b4, cash, cid in cursor.fetchall():
                    if cid is None:
                        totals[cur] = _open_totals(b0, b1, b2, b3, b4, cash, None)
                        count += n
                    else:
                        ids.append(cid)
            rows: list[AgedRow] = []
            if ids:
                shown, _, rows = rows_and_totals(rows_sql, 0, None, ids=ids)
                if len(ids) == count:  # every listed customer: their credits are the total's
                    for cur, t in totals.items():
                        t["credits"] = shown[cur]["credits"] if cur in shown else ZERO
            return dict(sorted(totals.items())), count, rows

    offset, limit = window
    totals, count, rows = fetch(offset, limit)
    return AgedReport(as_of=as_of, rows=AgedRows(fetch, count, (offset, rows)), totals=totals)


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
    outstanding = dict(Invoice.objects.filter(customer_id__in=customer_ids, status__in=OPEN_STATUSES)
                       .exclude(type=InvoiceType.TOP_UP).values("customer_id").annotate(s=Sum(OUTSTANDING))
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
     WHERE status IN ('sent', 'partially_paid') AND type <> 'top_up'
       AND customer_id IN (SELECT customer_id FROM cash)
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
# finance.ReceivableCustomer against the invoices and payments it counts (kept by triggers, migration 0007).
_RECEIVABLE_CUSTOMERS_SQL = """
WITH expected AS (
    SELECT c.id AS customer_id, c.currency, lower(c.name) AS sort_name, COALESCE(i.n, 0) AS open_invoices,
           COALESCE(p.n, 0) AS cash_payments
      FROM (SELECT customer_id, count(*) AS n FROM invoices_invoice
             WHERE status IN ('sent', 'partially_paid') AND type <> 'top_up' GROUP BY customer_id) i
      FULL JOIN (SELECT customer_id, count(*) AS n FROM finance_payment
                  WHERE status IN ('unallocated', 'partially_allocated') GROUP BY customer_id) p
             ON p.customer_id = i.customer_id
      JOIN customers_customer c ON c.id = COALESCE(i.customer_id, p.customer_id)
)
SELECT COALESCE(e.customer_id, r.customer_id), e.open_invoices, e.cash_payments, r.open_invoices,
       r.cash_payments, r.sort_name = e.sort_name AND r.currency = e.currency
  FROM expected e FULL JOIN finance_receivablecustomer r ON r.customer_id = e.customer_id
 WHERE r.customer_id IS NULL OR e.customer_id IS NULL OR r.open_invoices <> e.open_invoices
       OR r.cash_payments <> e.cash_payments OR r.sort_name <> e.sort_name OR r.currency <> e.currency
 ORDER BY 1
"""
# finance.ReceivableAmount (deltas) against what the open invoices owe, per currency and due date.
_RECEIVABLE_AMOUNTS_SQL = """
WITH kept AS (SELECT currency, due_date, SUM(owed) AS owed, SUM(invoices) AS invoices
                FROM finance_receivableamount GROUP BY currency, due_date),
     rows_ AS (SELECT currency, due_date, SUM(total - amount_paid - amount_credited) AS owed, count(*) AS invoices
                 FROM invoices_invoice WHERE status IN ('sent', 'partially_paid') AND type <> 'top_up'
                GROUP BY currency, due_date)
SELECT COALESCE(k.currency, r.currency), COALESCE(k.due_date, r.due_date), COALESCE(k.owed, 0),
       COALESCE(k.invoices, 0), COALESCE(r.owed, 0), COALESCE(r.invoices, 0)
  FROM kept k FULL JOIN rows_ r ON r.currency = k.currency AND r.due_date = k.due_date
 WHERE COALESCE(k.owed, 0) <> COALESCE(r.owed, 0) OR COALESCE(k.invoices, 0) <> COALESCE(r.invoices, 0)
 ORDER BY 1, 2
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


def _receivable_line(cid: int, invoices, cash, kept_invoices, kept_cash, same_name) -> str:
    where = f"customer #{cid} in the aged receivables list (finance.ReceivableCustomer)"
    if kept_invoices is None:
        return f"{where}: missing, with {invoices} open invoices and {cash} payments with cash"
    if invoices is None:
        return f"{where}: listed with {kept_invoices} open invoices and {kept_cash} payments with cash, has none"
    if (kept_invoices, kept_cash) != (invoices, cash):
        return (f"{where}: {kept_invoices} open invoices and {kept_cash} payments with cash kept, {invoices} and "
                f"{cash} in the rows")
    return f"{where}: its name or currency kept is not the customer's"


def finance_mismatches() -> list[str]:
    """Every cached finance total that differs from the rows it stands for (set-based, eight queries):
    a payment's allocated / topped-up amounts, an invoice's paid / credited amounts (finance allocations,
    the billing run's credit applications, credit notes), provisioning flags, each top-up's ledger pair,
    the aged receivables list of customers and amounts per due date (finance.ReceivableCustomer, ReceivableAmount);
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
        cursor.execute(_RECEIVABLE_CUSTOMERS_SQL)
        found += [_receivable_line(*row) for row in cursor.fetchall()]
        cursor.execute(_RECEIVABLE_AMOUNTS_SQL)
        found += [f"open invoices in {cur} due {due.isoformat()} (finance.ReceivableAmount): {kept_n} owing "
                  f"{kept_owed} kept, {n} owing {owed} in the rows"
                  for cur, due, kept_owed, kept_n, owed, n in cursor.fetchall()]
    found += _money_applied_lines()
    return found
