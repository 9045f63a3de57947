"""The dashboard's figures, per currency (SGD and USD are never added together). Each figure is one grouped
aggregate query, read through the selector and the filters of the list it links to where one exists (the
payment list's `payments` and PaymentFilterSet, the invoice list's `invoice_list` and InvoiceFilterSet,
Organization management's `settings_list` and SettingsFilterSet, the aged receivables report's
`aged_receivables`, the reconcile inbox's `statement_lines_inbox` and LineFilterSet), so a figure and the list
behind it count the same rows. Ten queries whatever the number of customers, payments, days or currencies (aged receivables is two: the report's
materialized view, refreshed every 5 minutes; before its first refresh of the day the report rebuilds the day
from the rows, as its own page does)."""

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


def month_periods(today: dt.date, months: int = MONTHS) -> list[Period]:
    """The `months` calendar months up to today's, oldest first; the current one ends today."""
    periods = []
    first = today.replace(day=1)
    for _ in range(months):
        last = min(today, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1))
        periods.append(Period(first, last))
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return periods[::-1]


def dashboard(today: dt.date | None = None, now: dt.datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    months = month_periods(today)
    days = Period(today - dt.timedelta(days=DAYS - 1), today)
    figures: dict[str, CurrencyFigures] = {}

    def of(currency: str) -> CurrencyFigures:
        return figures.setdefault(currency, CurrencyFigures(currency=currency))

    # 1. The customers' running totals (the O(1) cache of their ledgers).
    for row in Customer.objects.values("currency").order_by("currency").annotate(
            count=Count("id"), prepaid=Count("id", filter=Q(account_type="prepaid")),
            postpaid=Count("id", filter=Q(account_type="postpaid")), unbilled=Sum("amount_unbilled"),
            due=Sum("amount_due"), reserved=Sum("amount_reserved"), in_debt=Count("id", filter=Q(amount_due__lt=0))):
        for key in ("unbilled", "due", "reserved"):
            row[key] = row[key] or ZERO
        row["balance"] = row["unbilled"] + row["due"]
        of(row["currency"]).customers = row

    # 2. Cash received by month and method: the payment list's rows (not deleted) received in the 12 months.
    cash: dict[tuple[str, dt.date, str], Tally] = {}
    received = PaymentFilterSet({"received_from": months[0].first, "received_to": today}, payments()).qs
    for row in (received.order_by()
                .annotate(month=TruncMonth("received_date")).values("currency", "month", "method")
                .annotate(n=Count("id"), amount=Sum("amount"))):
        cash[row["currency"], row["month"], row["method"]] = Tally(row["n"], row["amount"])
    for currency in {c for c, _, _ in cash}:
        f = of(currency)
        f.methods = [m for m in PaymentMethod.values if any(k[0] == currency and k[2] == m for k in cash)]
        f.cash = [CashMonth(p, {m: cash.get((currency, p.first, m), Tally()) for m in f.methods}) for p in months]

    # 3. Payments not yet matched to a customer, and assigned payments' cash not yet used.
    for row in (payments().filter(status__in=OPEN_PAYMENT_STATUSES).order_by().values("currency", "status")
                .annotate(n=Count("id"), amount=Sum(UNALLOCATED))):
        of(row["currency"]).open_payments[row["status"]] = Tally(row["n"], row["amount"])

    # 4. Aged receivables by bucket: the report's totals, no customer rows (window of none), as of its view's refresh.
    aged = aged_receivables(today, window=(0, 0))
    for currency, totals in aged.totals.items():
        of(currency).aged = {key: totals[key] for key, _ in BUCKETS} | {"total": totals["total"]}

    # 5. Top-up invoices issued in the 30 days, by status.
    top_ups = InvoiceFilterSet({"type": InvoiceType.TOP_UP, "issued_from": days.first, "issued_to": today},
                               invoice_list()).qs
    for row in (top_ups.order_by()
                .values("currency", "status").annotate(n=Count("id"), amount=Sum("total"))):
        of(row["currency"]).top_up_invoices[row["status"]] = Tally(row["n"], row["amount"])

    # 6. The daily auto top-up's results in the 30 days (auto_top_up_day_status_idx).
    auto: dict[str, dict[dt.date, dict[str, Tally]]] = {}
    for row in (AutoTopUp.objects.filter(run_date__gte=days.first, run_date__lte=today).order_by()
                .values("currency", "run_date", "status").annotate(n=Count("id"), amount=Sum("amount"))):
        auto.setdefault(row["currency"], {}).setdefault(row["run_date"], {})[row["status"]] = \
            Tally(row["n"], row["amount"])
    for currency, by_day in auto.items():
        f = of(currency)
        f.auto_top_ups = [AutoTopUpDay(d, {s: by_day[d].get(s, Tally()) for s in AUTO_STATUSES})
                          for d in sorted(by_day)]
        f.auto_top_up_totals = {s: Tally(sum(d.by_status[s].count for d in f.auto_top_ups),
                                          sum((d.by_status[s].amount for d in f.auto_top_ups), ZERO))
                                for s in AUTO_STATUSES}

    # 7. Customers with auto top-up on whose usable credits are at or below their limit threshold: the
    #    "At or below threshold" filter of Organization management.
    for row in (SettingsFilterSet({"auto": "due"}, settings_list()).qs.order_by().values("currency")
                .annotate(n=Count("id"), short=Sum(F("payment_settings__limit_threshold") - F("usable_credits")))):
        of(row["currency"]).below_threshold = Tally(row["n"], row["short"])

    # 8. Reservations in flight (reservation_open_expiry_idx holds only the open ones).
    for row in (Reservation.objects.filter(status=ReservationStatus.OPEN).order_by()
                .values(currency=F("customer__currency"))
                .annotate(n=Count("id"), amount=Sum("amount"), customers=Count("customer_id", distinct=True),
                          stale=Count("id", filter=Q(expires_at__lt=now)), oldest=Min("created_at"))):
        of(row["currency"]).reservations = row

    # 9. Bank statement lines still to reconcile (the reconcile inbox's default rows: statement_line_state_idx),
    #    money in and money out apart.
    for row in (LineFilterSet({}, statement_lines_inbox()).qs.prefetch_related(None).order_by().values("currency")
                .annotate(n_in=Count("id", filter=Q(amount__gt=0)), amount_in=Sum("amount", filter=Q(amount__gt=0)),
                          n_out=Count("id", filter=Q(amount__lt=0)), amount_out=Sum("amount", filter=Q(amount__lt=0)))):
        f = of(row["currency"])
        f.unreconciled_in = Tally(row["n_in"], row["amount_in"] or ZERO)
        f.unreconciled_out = Tally(row["n_out"], row["amount_out"] or ZERO)

    rows = sorted(figures.values(), key=lambda f: f.currency)
    customers = {key: sum(f.customers.get(key, 0) for f in rows) for key in ("count", "prepaid", "postpaid")}
    return Dashboard(today=today, months=months, days=days, customers=customers, currencies=rows,
                     aged_refreshed_at=aged.refreshed_at)
