"""Reads for the reports: the aged receivables report, from the materialized view for today and rebuilt from the
rows for a past day. Nothing here writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Q,
)
from django.utils import timezone

from customers.money import ZERO
from invoices.models import Invoice, InvoiceStatus, InvoiceType

from ..models import Payment
from ..selectors import credit_balances

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


def aged_receivables(as_of: dt.date, *, customer_q: str = "", currency: str = "", bucket: str = "",
                     window: tuple[int, int | None] = (0, None)) -> AgedReport:
    """Outstanding per customer by days past due on `as_of`, with the cash not yet allocated and each
    customer's credit balance beside it; totals per currency over all the customers. The day the view
    finance_agedreceivable was last refreshed on (today, refreshed every 5 minutes and on demand) is read
    from it, as of its refresh (aged_receivables_view, two queries); any other day, or today before the view
    holds it, is rebuilt from the rows (aged_receivables_history). `window` (offset, limit) is the slice of
    rows the caller will show (a page), fetched with the totals by the same query. `bucket` (a key of BUCKETS):
    only the customers with money in that bucket, and the totals over them."""
    if bucket not in dict(BUCKETS):
        bucket = ""
    if as_of == timezone.localdate():
        report = aged_receivables_view(as_of, customer_q=customer_q, currency=currency, bucket=bucket, window=window)
        if report is not None:
            return report
    return aged_receivables_history(as_of, customer_q=customer_q, currency=currency, bucket=bucket)


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


def aged_receivables_view(as_of: dt.date, *, customer_q: str = "", currency: str = "", bucket: str = "",
                          window: tuple[int, int | None] = (0, None)) -> AgedReport | None:
    """aged_receivables from the view, as of its last refresh, or None when the view holds another day than
    `as_of` or was never refreshed. Two queries (is it filled; then the report). A customer's invoices and
    payments are in its currency (finance.rules, and a currency cannot change once the ledger has entries), so
    the currency filter is the customer's."""
    from django.db import connection

    params: dict[str, object] = {"currency": currency}
    in_currency = "AND currency = %(currency)s" if currency else ""
    if customer_q or bucket:
        # A bucket is a column of the view (BUCKETS' keys only: checked by aged_receivables).
        search = in_currency + (f" AND {bucket} > 0" if bucket else "")
        if customer_q:
            params["like"] = f"%{connection.ops.prep_for_like_query(customer_q)}%"
            search += " AND (UPPER(name) LIKE UPPER(%(like)s) OR UPPER(code) LIKE UPPER(%(like)s))"
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


def aged_receivables_history(as_of: dt.date, *, customer_q: str = "", currency: str = "",
                             bucket: str = "") -> AgedReport:
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
    if bucket in dict(BUCKETS):
        ordered = [r for r in ordered if getattr(r, bucket) > 0]
    return AgedReport(as_of=as_of, rows=ordered, totals=_totals(ordered))
