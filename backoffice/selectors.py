"""The dashboard's figures, per currency (SGD and USD are never added together). Each figure is one grouped
aggregate query, read through the selector and the filters of the list it links to where one exists (the
payment list's `payments` and PaymentFilterSet, the invoice list's `invoice_list` and InvoiceFilterSet,
Organization management's `settings_list` and SettingsFilterSet, the aged receivables report's
`aged_receivables`, the reconcile inbox's `statement_lines_inbox` and LineFilterSet), so a figure and the list
behind it count the same rows. The figures that must scan a large table (SNAPSHOT) are read from the dashboard's
snapshot, which the same queries fill every 5 minutes; aged receivables from the report's materialized view
(two queries). A constant number of queries whatever the number of customers, payments, days or currencies:
three with the day's snapshot, eleven before it (the scanning figures then queried now, as the report rebuilds
the day from the rows before its view holds it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from banking.filters import LineFilterSet
from banking.selectors import statement_lines_inbox
from customers.models import Customer, Reservation, ReservationStatus
from customers.money import ZERO
from finance.auto_top_up.filters import SettingsFilterSet
from finance.auto_top_up.selectors import settings_list
from finance.models import AutoTopUp, AutoTopUpStatus, PaymentMethod, PaymentStatus
from finance.models.payments import UNALLOCATED
from finance.payments.filters import PaymentFilterSet
from finance.payments.selectors import payments
from finance.receivables.selectors import BUCKETS, aged_receivables
from invoices.filters import InvoiceFilterSet
from invoices.models import InvoiceStatus, InvoiceType
from invoices.selectors import invoice_list

MONTHS = 12  # cash received: this month and the 11 before it
DAYS = 30  # top-ups and auto top-ups: today and the 29 days before it
OPEN_PAYMENT_STATUSES = (PaymentStatus.UNASSIGNED, PaymentStatus.UNALLOCATED, PaymentStatus.PARTIALLY_ALLOCATED)
AUTO_STATUSES = (AutoTopUpStatus.FIRED, AutoTopUpStatus.FAILED, AutoTopUpStatus.PENDING)
TOP_UP_STATUSES = (InvoiceStatus.PAID, InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.DRAFT,
                   InvoiceStatus.VOID)


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date


@dataclass(frozen=True)
class Tally:
    """How many rows, and how much money they hold."""

    count: int = 0
    amount: Decimal = ZERO


@dataclass
class CashMonth:
    month: Period
    by_method: dict[str, Tally]  # every method of the currency's chart, zero where none came in

    @property
    def total(self) -> Decimal:
        return sum((c.amount for c in self.by_method.values()), ZERO)


@dataclass
class AutoTopUpDay:
    day: dt.date
    by_status: dict[str, Tally]  # fired, failed, pending


@dataclass
class CurrencyFigures:
    currency: str
    customers: dict = field(default_factory=dict)  # the totals row: count, unbilled, due, balance, reserved...
    methods: list[str] = field(default_factory=list)  # payment methods with cash in the 12 months, in list order
    cash: list[CashMonth] = field(default_factory=list)
    aged: dict[str, Decimal] = field(default_factory=dict)  # bucket -> owed, and "total"
    open_payments: dict[str, Tally] = field(default_factory=dict)  # status -> unassigned / unallocated cash
    top_up_invoices: dict[str, Tally] = field(default_factory=dict)  # status -> issued in the 30 days
    auto_top_ups: list[AutoTopUpDay] = field(default_factory=list)  # the days with a result, oldest first
    auto_top_up_totals: dict[str, Tally] = field(default_factory=dict)  # status -> the 30 days
    below_threshold: Tally = field(default_factory=Tally)  # amount: how far below, summed
    reservations: dict = field(default_factory=dict)  # count, amount, customers, stale, oldest
    unreconciled_in: Tally = field(default_factory=Tally)  # bank statement lines still to reconcile: money in
    unreconciled_out: Tally = field(default_factory=Tally)  # ... and money out (amounts negative)

    @property
    def cash_total(self) -> Decimal:
        return sum((m.total for m in self.cash), ZERO)

    def cash_by_method(self) -> dict[str, Decimal]:
        return {m: sum((month.by_method[m].amount for month in self.cash), ZERO) for m in self.methods}

    @property
    def unapplied_cash(self) -> Tally:
        """Assigned payments' cash not yet allocated or topped up (unallocated + partially allocated)."""
        parts = [self.open_payments.get(s, Tally()) for s in (PaymentStatus.UNALLOCATED,
                                                                PaymentStatus.PARTIALLY_ALLOCATED)]
        return Tally(sum(p.count for p in parts), sum((p.amount for p in parts), ZERO))


@dataclass
class Dashboard:
    today: dt.date
    months: list[Period]
    days: Period
    customers: dict[str, int]
    currencies: list[CurrencyFigures]
    aged_refreshed_at: dt.datetime | None = None  # when the aged receivables' view was refreshed (None: rebuilt now)
    snapshot_taken_at: dt.datetime | None = None  # when the SNAPSHOT figures were taken (None: queried now)


def month_periods(today: dt.date, months: int = MONTHS) -> list[Period]:
    """The `months` calendar months up to today's, oldest first; the current one ends today."""
    periods = []
    first = today.replace(day=1)
    for _ in range(months):
        last = min(today, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1))
        periods.append(Period(first, last))
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return periods[::-1]


# --- The figures' rows --------------------------------------------------------------------------------
# Each figure is one grouped aggregate query (a values() queryset: one dict per group), named below. The page
# assembles the Dashboard from these rows (_assemble) whether they were just queried or read from the snapshot,
# so a figure has one definition: the query here, which the snapshot's refresh runs too.
def _customer_totals(today: dt.date, now: dt.datetime):
    """The customers' running totals (the O(1) cache of their ledgers)."""
    return Customer.objects.values("currency").order_by("currency").annotate(
        count=Count("id"), prepaid=Count("id", filter=Q(account_type="prepaid")),
        postpaid=Count("id", filter=Q(account_type="postpaid")), unbilled=Sum("amount_unbilled"),
        due=Sum("amount_due"), reserved=Sum("amount_reserved"), in_debt=Count("id", filter=Q(amount_due__lt=0)))


def _cash_received(today: dt.date, now: dt.datetime):
    """Cash received by month and method: the payment list's rows (not deleted) received in the 12 months."""
    received = PaymentFilterSet({"received_from": month_periods(today)[0].first, "received_to": today}, payments()).qs
    return (received.order_by().annotate(month=TruncMonth("received_date")).values("currency", "month", "method")
            .annotate(n=Count("id"), amount=Sum("amount")))


def _open_payments(today: dt.date, now: dt.datetime):
    """Payments not yet matched to a customer, and assigned payments' cash not yet used."""
    return (payments().filter(status__in=OPEN_PAYMENT_STATUSES).order_by().values("currency", "status")
            .annotate(n=Count("id"), amount=Sum(UNALLOCATED)))


def _top_up_invoices(today: dt.date, now: dt.datetime):
    """Top-up invoices issued in the 30 days, by status."""
    days = _days(today)
    top_ups = InvoiceFilterSet({"type": InvoiceType.TOP_UP, "issued_from": days.first, "issued_to": today},
                               invoice_list()).qs
    return top_ups.order_by().values("currency", "status").annotate(n=Count("id"), amount=Sum("total"))


def _auto_top_ups(today: dt.date, now: dt.datetime):
    """The daily auto top-up's results in the 30 days (auto_top_up_day_status_idx)."""
    return (AutoTopUp.objects.filter(run_date__gte=_days(today).first, run_date__lte=today).order_by()
            .values("currency", "run_date", "status").annotate(n=Count("id"), amount=Sum("amount")))


def _below_threshold(today: dt.date, now: dt.datetime):
    """Customers with auto top-up on whose usable credits are at or below their limit threshold: the "At or below
    threshold" filter of Organization management."""
    return (SettingsFilterSet({"auto": "due"}, settings_list()).qs.order_by().values("currency")
            .annotate(n=Count("id"), short=Sum(F("payment_settings__limit_threshold") - F("usable_credits"))))


def _reservations(today: dt.date, now: dt.datetime):
    """Reservations in flight (reservation_open_expiry_idx holds only the open ones)."""
    return (Reservation.objects.filter(status=ReservationStatus.OPEN).order_by()
            .values(currency=F("customer__currency"))
            .annotate(n=Count("id"), amount=Sum("amount"), customers=Count("customer_id", distinct=True),
                      stale=Count("id", filter=Q(expires_at__lt=now)), oldest=Min("created_at")))


def _unreconciled(today: dt.date, now: dt.datetime):
    """Bank statement lines still to reconcile (the reconcile inbox's default rows: statement_line_state_idx),
    money in and money out apart."""
    return (LineFilterSet({}, statement_lines_inbox()).qs.prefetch_related(None).order_by().values("currency")
            .annotate(n_in=Count("id", filter=Q(amount__gt=0)), amount_in=Sum("amount", filter=Q(amount__gt=0)),
                      n_out=Count("id", filter=Q(amount__lt=0)), amount_out=Sum("amount", filter=Q(amount__lt=0))))


FIGURES = {"customers": _customer_totals, "cash": _cash_received, "open_payments": _open_payments,
           "top_up_invoices": _top_up_invoices, "auto_top_ups": _auto_top_ups, "below_threshold": _below_threshold,
           "reservations": _reservations, "unreconciled": _unreconciled}

# The figures read from the dashboard's snapshot (backoffice.models.DashboardSnapshot, refreshed by Celery beat every
# 5 minutes and by the page's Refresh button): those that must read every row of a large table, whatever index
# there is. Measured with EXPLAIN (ANALYZE) at 100,000 customers, 300,000 payments in 12 months, 50,000 open bank
# statement lines (bench/README.md "The dashboard from a snapshot"), on the shared 2-core machine:
#   customers      every customer's totals: a sequential scan of 100,000 customers, 44 ms
#   cash           every payment of the 12 months grouped by month and method: 228,000 rows, 112 ms
#   below_threshold  usable credits against each customer's threshold (a comparison across two tables, which
#                  no index holds): 41,800 customers with auto top-up joined to theirs, 49 ms
#   unreconciled   every open statement line summed: 50,000 lines, 28 ms (the quiet run had 250,000)
# together 233 of the page's 239 ms in process (dashboard(), 10 queries). The other figures are each an index
# range of a few thousand rows (1-2 ms of SQL: open payments, the 30 days' top-up invoices and auto top-ups, open
# reservations), but with their ORM and filterset building and a round trip each on a loaded machine they were
# still 10 of the page's 24 ms in process (median of 25, alternating, load 3.4: 23.8 ms with them live, 13.4 ms
# with them in the snapshot too), the difference between the pages target (p95 within 6x the one-query view's)
# and not: every figure is read from the snapshot, as of its time. Aged receivables has its own view
# (finance/sql/aged_receivables.sql).
SNAPSHOT = tuple(FIGURES)
LIVE = tuple(name for name in FIGURES if name not in SNAPSHOT)


def figure_rows(names: tuple[str, ...], today: dt.date, now: dt.datetime) -> dict[str, list[dict]]:
    """The rows of the named figures, queried now (one query each)."""
    return {name: list(FIGURES[name](today, now)) for name in names}


def _days(today: dt.date) -> Period:
    return Period(today - dt.timedelta(days=DAYS - 1), today)


def dashboard(today: dt.date | None = None, now: dt.datetime | None = None) -> Dashboard:
    """The dashboard for `today` (the operator's, by default). The scanning figures (SNAPSHOT) come from the
    latest snapshot when it was taken on that day, as of its time (`snapshot_taken_at`); before the day's first
    snapshot (a fresh database, just after midnight), or when the latest lacks one of them (taken by an earlier
    release), they are queried now, as the snapshot's refresh queries them. Three queries with a snapshot of the day (aged receivables is two), eleven without."""
    from .models import DashboardSnapshot

    now = now or timezone.now()
    today = today or timezone.localdate(now)
    snapshot = DashboardSnapshot.objects.order_by("-taken_at").first()
    # A snapshot holds the figures SNAPSHOT named when it was taken: one from before a release that added a figure
    # to it is not used (the figures are queried now until the next refresh), as one from another day is not.
    if snapshot is not None and snapshot.day == today and set(SNAPSHOT) <= snapshot.figures.keys():
        rows, taken_at = dict(snapshot.figures), snapshot.taken_at
    else:
        rows, taken_at = figure_rows(SNAPSHOT, today, now), None
    rows |= figure_rows(LIVE, today, now)
    # Aged receivables by bucket: the report's totals, no customer rows (window of none), as of its view's refresh.
    aged = aged_receivables(today, window=(0, 0))
    return _assemble(rows, aged, today, taken_at)


def _assemble(rows: dict[str, list[dict]], aged, today: dt.date, taken_at: dt.datetime | None) -> Dashboard:
    months = month_periods(today)
    days = _days(today)
    figures: dict[str, CurrencyFigures] = {}

    def of(currency: str) -> CurrencyFigures:
        return figures.setdefault(currency, CurrencyFigures(currency=currency))

    for row in rows["customers"]:
        row = dict(row)
        for key in ("unbilled", "due", "reserved"):
            row[key] = row[key] or ZERO
        row["balance"] = row["unbilled"] + row["due"]
        of(row["currency"]).customers = row

    cash: dict[tuple[str, dt.date, str], Tally] = {}
    for row in rows["cash"]:
        cash[row["currency"], row["month"], row["method"]] = Tally(row["n"], row["amount"])
    for currency in {c for c, _, _ in cash}:
        f = of(currency)
        f.methods = [m for m in PaymentMethod.values if any(k[0] == currency and k[2] == m for k in cash)]
        f.cash = [CashMonth(p, {m: cash.get((currency, p.first, m), Tally()) for m in f.methods}) for p in months]

    for row in rows["open_payments"]:
        of(row["currency"]).open_payments[row["status"]] = Tally(row["n"], row["amount"])

    for currency, totals in aged.totals.items():
        of(currency).aged = {key: totals[key] for key, _ in BUCKETS} | {"total": totals["total"]}

    for row in rows["top_up_invoices"]:
        of(row["currency"]).top_up_invoices[row["status"]] = Tally(row["n"], row["amount"])

    auto: dict[str, dict[dt.date, dict[str, Tally]]] = {}
    for row in rows["auto_top_ups"]:
        auto.setdefault(row["currency"], {}).setdefault(row["run_date"], {})[row["status"]] = \
            Tally(row["n"], row["amount"])
    for currency, by_day in auto.items():
        f = of(currency)
        f.auto_top_ups = [AutoTopUpDay(d, {s: by_day[d].get(s, Tally()) for s in AUTO_STATUSES})
                          for d in sorted(by_day)]
        f.auto_top_up_totals = {s: Tally(sum(d.by_status[s].count for d in f.auto_top_ups),
                                          sum((d.by_status[s].amount for d in f.auto_top_ups), ZERO))
                                for s in AUTO_STATUSES}

    for row in rows["below_threshold"]:
        of(row["currency"]).below_threshold = Tally(row["n"], row["short"])

    for row in rows["reservations"]:
        of(row["currency"]).reservations = dict(row)

    for row in rows["unreconciled"]:
        f = of(row["currency"])
        f.unreconciled_in = Tally(row["n_in"], row["amount_in"] or ZERO)
        f.unreconciled_out = Tally(row["n_out"], row["amount_out"] or ZERO)

    currencies = sorted(figures.values(), key=lambda f: f.currency)
    customers = {key: sum(f.customers.get(key, 0) for f in currencies) for key in ("count", "prepaid", "postpaid")}
    return Dashboard(today=today, months=months, days=days, customers=customers, currencies=currencies,
                     aged_refreshed_at=aged.refreshed_at, snapshot_taken_at=taken_at)
