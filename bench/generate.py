"""`python -m bench.generate`: fill an EMPTY database (the bench database, BENCH_DATABASE_URL: bench/_common.py) with a reseller's year at production scale, fast,
for the benchmarks in bench/ (issue 9). Defaults: 100,000 customers, 2,000,000 ledger transactions over 12
months, 300,000 invoices and 300,000 payments, written with PostgreSQL COPY in one transaction.

The history is what the services would have written, so `check_ledger` and `check_finance` are clean:
- every customer's running totals equal the sums of its entries (and open reservations);
- monthly invoices bill the month's unbilled charges (usage summed per kind on one line, each entry linked
  by an InvoiceLineEntry; consolidated customers' other charges one line each), post -total on the due side,
  and get the customer's credit applied the way the billing run applies it (unapplied CR in the amount due,
  then, for consolidated customers, unbilled credit with a CREDIT_APPLIED pair);
- purchase invoices post and bill their charge at once; top-up invoices are provisioned by the payment
  allocated to them (TopUp rows; no ledger pair for `individual` customers), some await payment, a few are
  void; top-up payments of `consolidated` / `none` customers post the TOP_UP pair (due -x, unbilled +x);
- each payment's allocated / topped-up totals equal its allocations / top-ups, each invoice's paid /
  credited amounts equal its allocations + credit applications / credit notes, status follows from them;
- invoice and credit-note numbers are gapless per series and year in issue order, and the NumberSeries rows
  are set to the last number used, so the next invoice the services issue continues the series;
- prepaid customers are topped up before they spend (usable credits never go below zero in the history).

Not generated: audit events for the history (the audit trail starts empty: the chain is hash-linked and
append-only, and a year of back-dated events would be a forgery of the trail, not a benchmark fixture),
portal users and staff users (the benches create what they need through the services), card payments and
Stripe events (they need Stripe), withdrawals. Everything the generator writes is dated before the start of
the current month (--until), except a few open reservations dated now; the current month's usage is left
for the benches (the billing-run bench bills the last generated month, which is left unbilled).

It refuses a database that already has customers. Re-generate into a fresh database (bench/run_all.sh
drops and re-creates the bench database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import io
import random
import sys
import time
import zoneinfo
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bench._common import setup_django
from customers.money import display as money_display

MICRO = 1_000_000
CHUNK = 8 << 20  # characters per COPY write
DAY = 86_400
HOUR = 3_600

# Profiles: (invoice setup, account type) and their share of the customers.
IP, IR, CP, CR, NR = "IP", "IR", "CP", "CR", "NR"
PROFILES = {
    IP: ("individual", "postpaid", 0.25),
    IR: ("individual", "prepaid", 0.20),
    CP: ("consolidated", "postpaid", 0.15),
    CR: ("consolidated", "prepaid", 0.10),
    NR: ("none", "prepaid", 0.30),
}
INVOICED = (IP, IR, CP, CR)
# How the invoice budget is split.
SHARE_MONTHLY, SHARE_PURCHASE, SHARE_TOP_UP = 0.62, 0.08, 0.30

USAGE_KINDS = ("call", "sms", "fax", "number_activation")
USAGE_WEIGHTS = (70, 25, 2, 3)
USAGE_LABELS = {"call": "Calls", "sms": "SMS", "fax": "Faxes", "number_activation": "Number activation fees"}
KIND_LABELS = {"call": "Call", "sms": "SMS", "fax": "Fax", "number_activation": "Number activation fee",
               "subscription": "Subscription", "add_on": "Add-on", "service": "Service", "hardware": "Hardware"}
PRODUCTS = [  # (kind, description, unit price in micro units)
    ("subscription", "Business phone line, 12 months", 360 * MICRO),
    ("subscription", "Contact centre seat, monthly", 89 * MICRO),
    ("add_on", "Call recording add-on", 29_900_000),
    ("add_on", "Auto attendant add-on", 19_900_000),
    ("hardware", "Yealink T54W desk phone", 289 * MICRO),
    ("hardware", "Jabra Evolve2 headset", 199 * MICRO),
    ("service", "Number porting service", 50 * MICRO),
    ("service", "Onboarding and configuration", 450 * MICRO),
]
RECURRING = [("subscription", "SIP trunk, 10 channels", 120 * MICRO), ("subscription", "Toll-free number", 25 * MICRO),
             ("add_on", "Call recording storage", 9_900_000)]
METHODS = (("bank_transfer", 60), ("telegraphic_transfer", 15), ("cheque", 15), ("cash", 3), ("other", 7))
NAME_A = ["Apex", "Blue", "Crest", "Delta", "Evergreen", "Falcon", "Granite", "Harbour", "Iris", "Jade", "Kestrel",
          "Lumen", "Meridian", "Nova", "Orchid", "Pioneer", "Quartz", "Raffles", "Summit", "Tanjong", "Unity",
          "Vertex", "Willow", "Zenith", "Marina", "Lion", "Straits", "Bukit", "Orient", "Pacific"]
NAME_B = ["Logistics", "Telecom", "Clinic", "Foods", "Engineering", "Consulting", "Travel", "Realty", "Trading",
          "Media", "Dental", "Freight", "Studios", "Holdings", "Solutions", "Retail", "Capital", "Energy",
          "Marine", "Academy", "Bakery", "Motors", "Pharma", "Textiles", "Security"]
NAME_C = ["Pte Ltd", "Pte. Ltd.", "LLP", "Sdn Bhd", "Inc", "Group", "Pte Ltd", "Pte Ltd"]
LEDGER_SOURCE = {"payment": "finance.payment", "invoice": "invoices.invoice", "topup": "finance.topup",
                 "creditnote": "finance.creditnote"}


def money(micro: int) -> str:
    sign = "-" if micro < 0 else ""
    a = -micro if micro < 0 else micro
    return f"{sign}{a // MICRO}.{a % MICRO:06d}"


def display(micro: int) -> str:
    return money_display(Decimal(money(micro)))


def tax_of(amount: int, rate_percent: Decimal) -> int:
    """invoices.services.common.line_tax (ROUND_HALF_UP at 6 places) for a non-negative amount."""
    num = amount * int(rate_percent * 10_000)
    return (num + 500_000) // 1_000_000  # amount * rate / 100, half up


def esc(text: str) -> str:
    """A value for COPY's text format."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class GenerationError(Exception):
    pass


# --- The containers: one list per table, rows as lists, temporary indexes until ids are assigned ---------
@dataclass
class Invoice:
    customer: int
    type: str
    t_created: int
    name: str
    issue_date: dt.date
    due_date: dt.date
    total: int
    subtotal: int
    tax: int
    period_start: dt.date | None = None
    source_key: str | None = None
    status: str = "sent"
    paid: int = 0
    credited: int = 0
    t_paid: int | None = None
    t_provisioned: int | None = None
    t_voided: int | None = None
    void_reason: str = ""
    lines: list = field(default_factory=list)  # (description, quantity, unit_price, rate, amount, tax, kind, txn, entries)


@dataclass
class Payment:
    t: int
    customer: int | None
    currency: str
    amount: int
    method: str
    reference: str
    invoice_quoted: int = -1
    allocated: int = 0
    topped: int = 0


@dataclass
class Totals:
    unbilled: int = 0
    due: int = 0
    reserved: int = 0


@dataclass
class Customer:
    id: int
    profile: str
    name: str
    code: str
    currency: str
    weight: float
    credit_limit: int = 0
    totals: Totals = field(default_factory=Totals)


class World:
    """Everything generated, before it is written."""

    def __init__(self, rng: random.Random, tz, months: list[int], until: int, tax_rate: Decimal, min_top_up: int):
        self.rng = rng
        self.tz = tz
        self.month_starts = months  # epoch of each month's first local midnight, plus the end (until)
        self.until = until
        self.tax_rate = tax_rate
        self.min_top_up = min_top_up
        self.customers: list[Customer] = []
        # transactions, as parallel lists (2M rows: tuples of objects would cost far more memory and time)
        self.tx_t: list[int] = []
        self.tx_c: list[int] = []
        self.tx_kind: list[str] = []
        self.tx_bucket: list[str] = []
        self.tx_amount: list[int] = []
        self.tx_link: list[tuple] = []  # ("usage", description) / ("payment", p) / ("invoice", i) / ...
        self.tx_billed: list[int] = []  # invoice index that billed it, or -1
        self.tx_removed: set[int] = set()
        self.invoices: list[Invoice] = []
        self.payments: list[Payment] = []
        self.allocations: list[tuple] = []  # (t, payment, invoice, customer, amount)
        self.top_ups: list[tuple] = []  # (t, customer, payment, invoice or -1, allocation or -1, amount, posted)
        self.credit_notes: list[tuple] = []  # (t, customer, invoice, currency, amount, reason, issue_date)
        self.credit_apps: list[tuple] = []  # (t, invoice, customer, source, amount, txn or -1)
        self.notifications: list[tuple] = []  # (t, customer, invoice)
        self.reservations: list[tuple] = []  # (t, customer, amount)
        self.last_month_usage: list[int] = []
        self.payment_budget = 0

    # -- helpers
    def local_date(self, t: int) -> dt.date:
        return dt.datetime.fromtimestamp(t, self.tz).date()

    def txn(self, t: int, c: Customer, kind: str, bucket: str, amount: int, link: tuple) -> int:
        self.tx_t.append(t)
        self.tx_c.append(c.id)
        self.tx_kind.append(kind)
        self.tx_bucket.append(bucket)
        self.tx_amount.append(amount)
        self.tx_link.append(link)
        self.tx_billed.append(-1)
        if bucket == "unbilled":
            c.totals.unbilled += amount
        else:
            c.totals.due += amount
        return len(self.tx_t) - 1

    def method(self) -> str:
        return self.rng.choices([m for m, _ in METHODS], [w for _, w in METHODS])[0]


# --- Planning -------------------------------------------------------------------------------------------
def distribute(total: int, weights: list[float], rng: random.Random, low: int, high: int) -> list[int]:
    """Integers in [low, high] adding up to `total`, roughly proportional to `weights`."""
    n = len(weights)
    if not n:
        if total:
            raise GenerationError("Nothing to distribute over.")
        return []
    if total < low * n or total > high * n:
        raise GenerationError(f"Cannot spread {total:,} over {n:,} customers ({low}..{high} each): change the ratios.")
    s = sum(weights)
    out = [min(high, max(low, int(total * w / s))) for w in weights]
    diff = total - sum(out)
    order = list(range(n))
    while diff:
        rng.shuffle(order)
        step = 1 if diff > 0 else -1
        moved = False
        for i in order:
            if diff == 0:
                break
            if low <= out[i] + step <= high:
                out[i] += step
                diff -= step
                moved = True
        if not moved:
            raise GenerationError("Cannot balance the distribution; change the ratios.")
    return out


def month_bounds(tz, until_month: dt.date, months: int) -> list[int]:
    starts = []
    year, month = until_month.year, until_month.month
    for back in range(months, -1, -1):
        y, m = year, month - back
        while m <= 0:
            m += 12
            y -= 1
        starts.append(int(dt.datetime(y, m, 1, tzinfo=tz).timestamp()))
    return starts


# --- Simulation: one customer's year, in time order -----------------------------------------------------
class CustomerYear:
    def __init__(self, w: World, c: Customer, plan: dict):
        self.w = w
        self.c = c
        self.plan = plan
        self.open: dict[int, int] = {}  # invoice -> outstanding (purchase and monthly invoices)
        self.unbilled_charges: list[int] = []
        self.events: list[tuple] = []
        self.seq = 0
        setup, _, _ = PROFILES[c.profile]
        self.setup = setup

    def push(self, t: int, kind: str, *args) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, args))

    def run(self) -> None:
        w, plan = self.w, self.plan
        ms = w.month_starts
        usage_by_month: dict[int, list[tuple]] = plan["usage"]
        for m, items in usage_by_month.items():
            for t, kind, amount, desc in items:
                self.push(t, "charge", kind, amount, desc, m)
        for m in plan["billed_months"]:
            self.push(ms[m + 1] + 2 * HOUR, "monthly", m)
        for t, product in plan["purchases"]:
            self.push(t, "purchase", product)
        for t, amount, state in plan["credits"]:
            self.push(t, "credit", amount, state)
        while self.events:
            t, _, kind, args = heapq.heappop(self.events)
            if t >= w.until:
                continue  # not happened yet: the invoice stays open, the top-up invoice awaits payment
            getattr(self, f"on_{kind}")(t, *args)

    # -- events
    def on_charge(self, t: int, kind: str, amount: int, desc: str, m: int) -> None:
        i = self.w.txn(t, self.c, kind, "unbilled", -amount, ("usage", desc))
        if self.setup != "none" and m < len(self.w.month_starts) - 2:
            self.unbilled_charges.append(i)
        elif m == len(self.w.month_starts) - 2:
            self.w.last_month_usage.append(i)
            if self.setup != "none":
                self.unbilled_charges.append(i)

    def _new_invoice(self, inv: Invoice, t: int) -> int:
        w = self.w
        w.invoices.append(inv)
        idx = len(w.invoices) - 1
        w.notifications.append((t, self.c.id, idx))
        return idx

    def _status(self, inv: Invoice, t: int) -> None:
        total, paid, credited = inv.total, inv.paid, inv.credited
        if paid + credited >= total:
            inv.status = "paid"
            inv.t_paid = inv.t_paid or t
        elif paid > 0 or credited > 0:
            inv.status = "partially_paid"
        else:
            inv.status = "sent"

    def _schedule_payment(self, t: int, inv: int, prompt: bool) -> None:
        rng = self.w.rng
        roll = rng.random()
        if prompt:
            delay = rng.uniform(0.05, 3) * DAY
        elif roll < 0.70:
            delay = rng.uniform(3, 14) * DAY
        elif roll < 0.90:
            delay = rng.uniform(15, 45) * DAY
        elif roll < 0.97:
            delay = rng.uniform(46, 120) * DAY
        else:
            return  # never paid: the aged receivables' 90+ column
        fraction = 1.0 if prompt or rng.random() > 0.05 else rng.uniform(0.3, 0.8)
        self.push(t + int(delay), "pay_invoice", inv, fraction)
        if not prompt and rng.random() < 0.006:
            self.push(t + int(rng.uniform(1, 3) * DAY), "credit_note", inv)

    def on_monthly(self, t: int, m: int) -> None:
        w, c = self.w, self.c
        if not self.unbilled_charges:
            return
        period = w.local_date(w.month_starts[m])
        usage: dict[str, list[int]] = defaultdict(list)
        others: list[int] = []
        for i in self.unbilled_charges:
            (usage[w.tx_kind[i]] if w.tx_kind[i] in USAGE_LABELS else others).append(i)
        lines = []
        rate = w.tax_rate
        for kind in USAGE_KINDS:
            rows = usage.get(kind)
            if not rows:
                continue
            n = len(rows)
            amount = -sum(w.tx_amount[i] for i in rows)
            desc = f"{USAGE_LABELS[kind]}, {period:%B %Y} ({n:,} {'entry' if n == 1 else 'entries'})"
            lines.append((desc, "1.000", amount, rate, amount, tax_of(amount, rate), kind, -1, rows))
        for i in others:
            kind, amount = w.tx_kind[i], -w.tx_amount[i]
            label = KIND_LABELS[kind]
            d = w.tx_link[i][1]
            lines.append(((f"{label}: {d}" if d else label)[:255], "1.000", amount, rate, amount, tax_of(amount, rate),
                          kind, i, ()))
        subtotal = sum(ln[4] for ln in lines)
        tax = sum(ln[5] for ln in lines)
        issue = w.local_date(t)
        what = "usage" if self.setup == "individual" else "consolidated"
        inv = Invoice(customer=c.id, type="monthly", t_created=t, name=f"{period:%B %Y} {what} invoice",
                      issue_date=issue, due_date=issue + dt.timedelta(days=14), total=subtotal + tax, subtotal=subtotal,
                      tax=tax, period_start=period, source_key=f"monthly:{c.id}:{period:%Y-%m}", lines=lines)
        idx = self._new_invoice(inv, t)
        for i in self.unbilled_charges:  # ledger.mark_billed
            w.tx_billed[i] = idx
            c.totals.unbilled -= w.tx_amount[i]
        self.unbilled_charges = []
        due_before = c.totals.due
        w.txn(t, c, "invoice", "due", -inv.total, ("invoice", idx))
        # the billing run's _apply_credit
        other_open = sum(self.open.values())
        from_due = min(max(due_before + other_open, 0), inv.total)
        if from_due > 0:
            inv.paid += from_due
            w.credit_apps.append((t, idx, c.id, "amount_due", from_due, -1))
        left = inv.total - inv.paid
        if self.setup == "consolidated" and left > 0:
            from_unbilled = min(c.totals.unbilled - c.totals.reserved, left)
            if from_unbilled > 0:
                leg = w.txn(t, c, "credit_applied", "unbilled", -from_unbilled, ("credit_unbilled", idx))
                w.txn(t, c, "credit_applied", "due", from_unbilled, ("credit_due", idx))
                inv.paid += from_unbilled
                w.credit_apps.append((t, idx, c.id, "unbilled", from_unbilled, leg))
        self._status(inv, t)
        if inv.total - inv.paid > 0:
            self.open[idx] = inv.total - inv.paid
            prepaid = c.profile in (IR, CR)
            if not prepaid or w.rng.random() < 0.7:
                self._schedule_payment(t, idx, prompt=False)

    def on_purchase(self, t: int, product: tuple) -> None:
        w, c = self.w, self.c
        kind, desc, price, qty = product
        amount = price * qty
        tax = tax_of(amount, w.tax_rate)
        issue = w.local_date(t)
        inv = Invoice(customer=c.id, type="purchase", t_created=t, name=desc, issue_date=issue,
                      due_date=issue + dt.timedelta(days=14), total=amount + tax, subtotal=amount, tax=tax)
        idx = self._new_invoice(inv, t)
        charge = w.txn(t, c, kind, "unbilled", -amount, ("purchase", idx))
        w.tx_billed[charge] = idx
        c.totals.unbilled += amount  # billed at once
        inv.lines = [(desc, f"{qty}.000", price, w.tax_rate, amount, tax, kind, charge, ())]
        w.txn(t, c, "invoice", "due", -inv.total, ("invoice", idx))
        self.open[idx] = inv.total
        self._schedule_payment(t, idx, prompt=c.profile == IR)

    def on_pay_invoice(self, t: int, inv_idx: int, fraction: float) -> None:
        w, c = self.w, self.c
        outstanding = self.open.get(inv_idx, 0)
        if outstanding <= 0:
            return
        amount = outstanding
        if fraction < 1.0:
            amount = max(10_000, (int(outstanding * fraction) // 10_000) * 10_000)
            if amount >= outstanding:
                amount = outstanding
        if w.payment_budget <= 0:
            return  # the budget of --payments is spent: the invoice stays open
        w.payment_budget -= 1
        inv = w.invoices[inv_idx]
        method = w.method()
        p = Payment(t=t, customer=c.id, currency=c.currency, amount=amount, method=method,
                    reference=f"{method[:3].upper()}-{w.rng.randrange(10**7, 10**8)}",
                    invoice_quoted=inv_idx if w.rng.random() < 0.6 else -1, allocated=amount)
        w.payments.append(p)
        pi = len(w.payments) - 1
        w.txn(t, c, "payment", "due", amount, ("payment", pi))
        w.allocations.append((t, pi, inv_idx, c.id, amount))
        inv.paid += amount
        self._status(inv, t)
        left = outstanding - amount
        if left > 0:
            self.open[inv_idx] = left
        else:
            del self.open[inv_idx]

    def on_credit_note(self, t: int, inv_idx: int) -> None:
        w, c = self.w, self.c
        outstanding = self.open.get(inv_idx, 0)
        inv = w.invoices[inv_idx]
        amount = min(outstanding, (int(inv.total * w.rng.uniform(0.05, 0.3)) // 10_000) * 10_000)
        if amount <= 0:
            return
        w.credit_notes.append((t, c.id, inv_idx, c.currency, amount, "Service outage credit", w.local_date(t)))
        cn = len(w.credit_notes) - 1
        w.txn(t, c, "credit_note", "due", amount, ("creditnote", cn))
        inv.credited += amount
        self._status(inv, t)
        left = outstanding - amount
        if left > 0:
            self.open[inv_idx] = left
        else:
            del self.open[inv_idx]

    def on_credit(self, t: int, amount: int, state: str) -> None:
        """Prepaid credit: a top-up invoice (individual) or a top-up payment (consolidated / none)."""
        w, c = self.w, self.c
        if c.profile == IR:
            issue = w.local_date(t)
            name = f"Top-up {display(amount)} {c.currency}"
            inv = Invoice(customer=c.id, type="top_up", t_created=t, name=name, issue_date=issue,
                          due_date=issue + dt.timedelta(days=14), total=amount, subtotal=amount, tax=0,
                          lines=[(name, "1.000", amount, Decimal(0), amount, 0, "top_up", -1, ())])
            idx = self._new_invoice(inv, t)
            if state == "void":
                inv.status, inv.t_voided = "void", t + int(w.rng.uniform(1, 4) * DAY)
                inv.void_reason = "Paid by card instead"
                if inv.t_voided >= w.until:
                    inv.status, inv.t_voided, inv.void_reason = "sent", None, ""
            elif state == "paid":
                self.push(t + int(w.rng.uniform(0.05, 2) * HOUR if t == w.month_starts[0] + 8 * HOUR
                                  else w.rng.uniform(0.5, 3) * DAY), "provision", idx)
            return
        method = w.method()
        p = Payment(t=t, customer=c.id, currency=c.currency, amount=amount, method=method,
                    reference=f"{method[:3].upper()}-{w.rng.randrange(10**7, 10**8)}", topped=amount)
        w.payments.append(p)
        pi = len(w.payments) - 1
        w.txn(t, c, "payment", "due", amount, ("payment", pi))
        w.top_ups.append((t, c.id, pi, -1, -1, amount, True))
        tu = len(w.top_ups) - 1
        w.txn(t, c, "top_up", "due", -amount, ("topup", tu))
        w.txn(t, c, "top_up", "unbilled", amount, ("topup", tu))

    def on_provision(self, t: int, inv_idx: int) -> None:
        w, c = self.w, self.c
        inv = w.invoices[inv_idx]
        method = w.method()
        p = Payment(t=t, customer=c.id, currency=c.currency, amount=inv.total, method=method,
                    reference=f"{method[:3].upper()}-{w.rng.randrange(10**7, 10**8)}", invoice_quoted=inv_idx,
                    allocated=inv.total)
        w.payments.append(p)
        pi = len(w.payments) - 1
        w.txn(t, c, "payment", "due", inv.total, ("payment", pi))
        w.allocations.append((t, pi, inv_idx, c.id, inv.total))
        w.top_ups.append((t, c.id, pi, inv_idx, len(w.allocations) - 1, inv.total, False))
        inv.paid = inv.total
        inv.status, inv.t_paid, inv.t_provisioned = "paid", t, t


# --- The generator --------------------------------------------------------------------------------------
@dataclass
class Options:
    customers: int = 100_000
    transactions: int = 2_000_000
    invoices: int = 300_000
    payments: int = 300_000
    months: int = 12
    seed: int = 20261101
    until: dt.date | None = None  # first day of the month the history stops at (default: the current month)


def usage_item(rng: random.Random, kind: str, t: int, call_rate: int) -> tuple:
    if kind == "call":
        secs = min(7200, int(rng.expovariate(1 / 150)) + 1)
        return (t, kind, secs * call_rate, f"Call {secs}s to +65 {rng.randrange(6000_0000, 9999_9999)}")
    if kind == "sms":
        return (t, kind, 45_000 if rng.random() < 0.7 else 50_000, "SMS")
    if kind == "fax":
        pages = rng.randrange(1, 6)
        return (t, kind, pages * 150_000, f"Fax, {pages} page{'s' if pages > 1 else ''}")
    return (t, kind, 5 * MICRO, f"Number activation +65 {rng.randrange(6000_0000, 6999_9999)}")


def plan_and_simulate(opts: Options, tz, first_customer_id: int, log) -> World:
    rng = random.Random(opts.seed)
    tax_rate = Decimal(str(settings.LEDGERDESK_TAX_RATE))
    min_top_up = int(Decimal(str(settings.LEDGERDESK_MIN_TOP_UP)) * MICRO)
    until_month = opts.until or timezone.localdate().replace(day=1)
    ms = month_bounds(tz, until_month, opts.months)
    w = World(rng, tz, ms, ms[-1], tax_rate, min_top_up)
    M = opts.months
    if M < 2:
        raise GenerationError("--months must be at least 2 (the last month is left unbilled).")
    n = opts.customers

    # customers and profiles
    names = [(a, b, cc) for a in NAME_A for b in NAME_B for cc in NAME_C]
    profiles = []
    for key, (_, _, share) in PROFILES.items():
        profiles += [key] * round(share * n)
    profiles = (profiles + [NR] * n)[:n]
    rng.shuffle(profiles)
    for k in range(n):
        a, b, cc = names[rng.randrange(len(names))]
        weight = min(50.0, rng.paretovariate(1.4))
        cid = first_customer_id + k
        w.customers.append(Customer(id=cid, profile=profiles[k], name=f"{a} {b} {k + 1} {cc}", code=f"C{k + 1:06d}",
                                    currency="USD" if rng.random() < 0.1 else "SGD", weight=weight))
    by_profile: dict[str, list[Customer]] = defaultdict(list)
    for c in w.customers:
        by_profile[c.profile].append(c)

    # invoices: monthly slots, purchases, top-up invoices
    mi = round(opts.invoices * SHARE_MONTHLY)
    pi = round(opts.invoices * SHARE_PURCHASE)
    ti = opts.invoices - mi - pi
    invoiced = [c for c in w.customers if c.profile in INVOICED]
    ir = by_profile[IR]
    k_months = distribute(mi, [c.weight for c in invoiced], rng, 1, M - 1)
    billed_months = {c.id: sorted(rng.sample(range(M - 1), k)) for c, k in zip(invoiced, k_months, strict=True)}
    # top-up invoices of individual prepaid customers: ~94% paid, ~4% awaiting payment, ~2% void
    ti_void = round(ti * 0.02)
    ti_awaiting = min(len(ir), round(ti * 0.04))
    ti_paid = ti - ti_void - ti_awaiting
    k_top = distribute(ti_paid, [c.weight for c in ir], rng, 1, M) if ir else []
    top_months = {c.id: sorted([0] + rng.sample(range(1, M), k - 1)) for c, k in zip(ir, k_top, strict=True)}
    # top-up payments of consolidated / none prepaid customers
    takers = by_profile[CR] + by_profile[NR]
    buyers_ip = by_profile[IP] + by_profile[IR]
    # Top-up payments are what is left of the payment budget once invoices are paid. Their count is only
    # estimated here (to plan the usage); it is fixed after the other customers' year is simulated.
    invoice_payments = int(0.97 * (mi * (len(by_profile[IP]) + len(by_profile[CP])) / max(1, len(invoiced)) + pi))
    unassigned = max(1, round(opts.payments * 0.004))  # money received from payers not identified yet
    tp = min(len(takers) * M, opts.payments - invoice_payments - ti_paid - unassigned)
    if tp < len(takers):
        raise GenerationError("Too few payments for the invoices and prepaid customers: raise --payments.")

    # usage: which months each customer is active in, and how many entries per month
    active: dict[int, list[int]] = {}
    for c in w.customers:
        if c.profile in INVOICED:
            months = list(billed_months[c.id])
            if rng.random() < 0.8:
                months.append(M - 1)  # last month: unbilled, for the billing-run bench
        else:
            months = sorted(rng.sample(range(M), rng.randrange(max(1, M // 3), M + 1)))
        active[c.id] = months
    slots = [(c, m) for c in w.customers for m in active[c.id]]
    # one PAYMENT per payment, one INVOICE per monthly / purchase invoice, a purchase's own charge, the TOP_UP
    # pair of each top-up payment, the CREDIT_APPLIED pair of consolidated prepaid customers' invoices
    est_nonusage = (opts.payments + mi + 2 * pi + 2 * tp
                    + 2 * round(mi * len(by_profile[CR]) / max(1, len(invoiced))))
    consolidated_recurring = {c.id: rng.random() < 0.3 for c in by_profile[CP] + by_profile[CR]}
    recurring_slots = sum(1 for c, m in slots if consolidated_recurring.get(c.id))
    usage_total = opts.transactions - est_nonusage - recurring_slots
    if usage_total < len(slots):
        raise GenerationError(f"{opts.transactions:,} transactions are too few for {len(slots):,} active customer "
                              "months: raise --transactions.")
    per_slot = [1] * len(slots)
    extra = usage_total - len(slots)
    if extra:
        cum, acc = [], 0.0
        for c, _ in slots:
            acc += c.weight
            cum.append(acc)
        for _ in range(extra):
            per_slot[bisect_right(cum, rng.random() * acc)] += 1
    log(f"planned: {mi:,} monthly + {pi:,} purchase + {ti:,} top-up invoices, {tp:,} top-up payments, "
        f"{usage_total:,} usage entries over {len(slots):,} active customer-months")

    usage_plan: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    call_rates = (1000, 1500, 2000, 3500)  # 0.06 to 0.21 a minute, rated per second
    for (c, m), count in zip(slots, per_slot, strict=True):
        start, end = ms[m] + DAY + HOUR, ms[m + 1] - 60
        rate = call_rates[c.id % 4]
        items = usage_plan[c.id][m]
        for kind, t in zip(rng.choices(USAGE_KINDS, USAGE_WEIGHTS, k=count),
                           sorted(rng.randrange(start, end) for _ in range(count)), strict=True):
            items.append(usage_item(rng, kind, t, rate))
        if consolidated_recurring.get(c.id):
            kind, desc, price = RECURRING[c.id % len(RECURRING)]
            items.insert(0, (ms[m] + DAY + 30 * 60, kind, price, desc))

    # purchases (individual customers)
    purchases: dict[int, list] = defaultdict(list)
    if buyers_ip:
        weights = [c.weight for c in buyers_ip]
        for c in rng.choices(buyers_ip, weights, k=pi):
            m = rng.randrange(M)
            t = ms[m] + rng.randrange(2 * DAY, 17 * DAY)
            kind, desc, price = PRODUCTS[rng.randrange(len(PRODUCTS))]
            purchases[c.id].append((t, (kind, desc, price, rng.choice((1, 1, 1, 2, 3, 5)))))

    # credits of prepaid customers: each covers the months until the next one, with a buffer, tax included
    awaiting = set(c.id for c in rng.sample(ir, ti_awaiting)) if ir else set()
    void_owners = rng.choices(ir, k=ti_void) if ir else []
    void_count: dict[int, int] = defaultdict(int)
    for c in void_owners:
        void_count[c.id] += 1
    def credits_of(c: Customer, need: list[int]) -> list[tuple]:
        factor = 1.0 if c.profile == NR else 1 + float(tax_rate) / 100
        credits = []
        months = top_months[c.id]
        for j, m in enumerate(months):
            upto = months[j + 1] if j + 1 < len(months) else M
            cover = sum(need[m:upto]) * factor
            amount = int(cover * rng.uniform(1.05, 1.5)) + 20 * MICRO
            amount = max(min_top_up, -(-amount // (10 * MICRO)) * 10 * MICRO)
            t = ms[0] + 8 * HOUR if m == 0 else ms[m] - 7 * DAY + rng.randrange(0, 3 * DAY)
            credits.append((t, amount, "paid"))
        if c.id in awaiting:
            credits.append((ms[M] - rng.randrange(DAY, 5 * DAY), max(min_top_up, 100 * MICRO), "awaiting"))
        for _ in range(void_count.get(c.id, 0)):
            credits.append((ms[rng.randrange(M)] + rng.randrange(2 * DAY, 20 * DAY), 200 * MICRO, "void"))
        return credits

    # First the customers who pay invoices or buy top-up invoices, then (with the payments they left) the
    # consolidated and none prepaid customers, whose top-up payments take the rest of the budget.
    w.payment_budget = opts.payments - ti_paid - len(takers) - unassigned  # invoice payments may use this much
    second = []
    for c in w.customers:
        if c.profile in (CR, NR):
            second.append(c)
            continue
        need = [0] * M
        for m, items in usage_plan[c.id].items():
            need[m] = sum(x[2] for x in items)
        for m, items in usage_plan[c.id].items():
            need[m] = sum(x[2] for x in items)
        if c.profile in (IP, CP):
            c.credit_limit = max(500, -(-int(max(need) * 1.6 / MICRO) // 500) * 500) * MICRO
        plan = {"usage": usage_plan.get(c.id, {}), "billed_months": billed_months.get(c.id, []),
                "purchases": purchases.get(c.id, []), "credits": credits_of(c, need) if c.profile == IR else []}
        CustomerYear(w, c, plan).run()
    # the consolidated prepaid customers pay the rest of their invoices in a few cases: keep 0.5% for them
    tp = min(len(takers) * M, opts.payments - len(w.payments) - unassigned - round(opts.payments * 0.005))
    if tp < len(takers):
        raise GenerationError("Too few payments for the invoices and prepaid customers: raise --payments.")
    k_tp = distribute(tp, [c.weight for c in takers], rng, 1, M) if takers else []
    top_months.update({c.id: sorted([0] + rng.sample(range(1, M), k - 1)) for c, k in zip(takers, k_tp, strict=True)})
    w.payment_budget = opts.payments - len(w.payments) - tp - unassigned
    for c in second:
        need = [0] * M
        for m, items in usage_plan[c.id].items():
            need[m] = sum(x[2] for x in items)
        plan = {"usage": usage_plan.get(c.id, {}), "billed_months": billed_months.get(c.id, []),
                "purchases": purchases.get(c.id, []), "credits": credits_of(c, need)}
        CustomerYear(w, c, plan).run()
    usage_plan.clear()

    # payments up to the budget: the unassigned ones, then a third unassigned, two thirds not yet allocated
    missing = opts.payments - len(w.payments)
    if missing < 0:
        raise GenerationError(f"The history needed {len(w.payments):,} payments, more than --payments "
                              f"{opts.payments:,}: raise it.")
    postpaid = by_profile[IP] + by_profile[CP]
    for k in range(missing):
        t = ms[M] - rng.randrange(HOUR, 20 * DAY)
        method = w.method()
        amount = rng.randrange(20, 2000) * MICRO + rng.choice((0, 500_000, 990_000))
        ref = f"{method[:3].upper()}-{rng.randrange(10**7, 10**8)}"
        if k < unassigned or k % 3 == 0 or not postpaid:
            w.payments.append(Payment(t=t, customer=None, currency="SGD", amount=amount, method=method, reference=ref))
        else:
            c = postpaid[rng.randrange(len(postpaid))]
            w.payments.append(Payment(t=t, customer=c.id, currency=c.currency, amount=amount, method=method,
                                      reference=ref))
            w.txn(t, c, "payment", "due", amount, ("payment", len(w.payments) - 1))

    # a few calls in flight now (open reservations) on postpaid customers
    now = int(time.time())
    for c in rng.sample(postpaid, min(len(postpaid), max(1, n // 200))) if postpaid else []:
        amount = rng.randrange(1, 6) * MICRO
        w.reservations.append((now - rng.randrange(60, 600), c.id, amount))
        c.totals.reserved += amount

    # exactly --transactions: top up or trim the last month's usage (unbilled: nothing depends on it)
    diff = opts.transactions - len(w.tx_t)
    if diff > 0:
        pool = postpaid or w.customers
        for _ in range(diff):
            c = pool[rng.randrange(len(pool))]
            t = ms[M - 1] + DAY + rng.randrange(0, ms[M] - ms[M - 1] - 2 * DAY)
            w.txn(t, c, "sms", "unbilled", -45_000, ("usage", "SMS"))
    elif diff < 0:
        if len(w.last_month_usage) < -diff:
            raise GenerationError("Too few transactions for the rest of the history: raise --transactions.")
        by_id = {c.id: c for c in w.customers}
        for i in rng.sample(w.last_month_usage, -diff):
            w.tx_removed.add(i)
            by_id[w.tx_c[i]].totals.unbilled -= w.tx_amount[i]
    return w


class Writer:
    """COPY rows into one model's table. Columns not given get the model field's default (so a column added
    later with a default does not break the generator); a column without one is an error, said clearly."""

    log = None

    def __init__(self, cursor, label: str, columns: list[str]):
        model = apps.get_model(label)
        self.table = model._meta.db_table
        concrete = [f for f in model._meta.concrete_fields if not getattr(f, "generated", False)]
        given = set(columns)
        self.extra: list[str] = []
        extra_values = []
        for f in concrete:
            if f.column in given:
                continue
            if f.primary_key:
                raise GenerationError(f"{self.table}: the id must be given")
            value = f.get_default()  # the field's default; "" for text fields without one
            if value is None and not f.null:
                raise GenerationError(f"{self.table}.{f.column} has no default: teach bench/generate.py about it.")
            extra_values.append(r"\N" if value is None else esc(str(f.get_db_prep_value(value, connection))))
            self.extra.append(f.column)
        unknown = given - {f.column for f in concrete}
        if unknown:
            raise GenerationError(f"{self.table} has no column(s) {sorted(unknown)}: bench/generate.py is out of date.")
        self.suffix = ("\t" + "\t".join(extra_values)) if extra_values else ""
        self.cursor = cursor
        self.columns = columns
        self.buffer = io.StringIO()
        self.rows = 0
        self.seconds = 0.0

    def row(self, *values: str) -> None:
        self.buffer.write("\t".join(values))
        self.buffer.write(self.suffix)
        self.buffer.write("\n")
        self.rows += 1

    def flush(self) -> int:
        started = time.monotonic()
        cols = ", ".join(f'"{c}"' for c in self.columns + self.extra)
        data = self.buffer.getvalue()
        with self.cursor.copy(f"COPY {self.table} ({cols}) FROM STDIN") as copy:
            for start in range(0, len(data), CHUNK):
                copy.write(data[start:start + CHUNK])
        self.buffer = io.StringIO()
        took = time.monotonic() - started
        self.seconds += took
        if Writer.log is not None:
            Writer.log(f"  COPY {self.table}: {self.rows:,} rows so far ({took:.1f}s)")
        return self.rows


_DAYS: dict[int, str] = {}


def ts(t: int | None) -> str:
    """An epoch second as a UTC timestamp for COPY (millions of calls: the day's text is cached)."""
    if t is None:
        return r"\N"
    day, sec = divmod(t, DAY)
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = time.strftime("%Y-%m-%d", time.gmtime(day * DAY))
    return f"{text} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+00"


def ranks(keys: list) -> list[int]:
    """ids 1..n (before the table's offset) in the order of keys (time), stable."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    out = [0] * len(keys)
    for rank, i in enumerate(order, start=1):
        out[i] = rank
    return out


def write(w: World, cursor, offsets: dict[str, int], log) -> dict[str, int]:
    counts: dict[str, int] = {}
    Writer.log = log
    seller = settings.LEDGERDESK_SELLER["name"]

    # ids in time order (as the services would have given them), numbers gapless per year in issue order
    inv_id = [offsets["invoices.Invoice"] + r for r in ranks([(v.t_created, k) for k, v in enumerate(w.invoices)])]
    pay_id = [offsets["finance.Payment"] + r for r in ranks([p.t for p in w.payments])]
    alloc_id = [offsets["finance.Allocation"] + r for r in ranks([a[0] for a in w.allocations])]
    topup_id = [offsets["finance.TopUp"] + r for r in ranks([x[0] for x in w.top_ups])]
    cn_id = [offsets["finance.CreditNote"] + r for r in ranks([x[0] for x in w.credit_notes])]
    inv_number: list[str] = [""] * len(w.invoices)
    series: dict[str, int] = defaultdict(int)
    for k in sorted(range(len(w.invoices)), key=inv_id.__getitem__):
        key = f"INV-{w.invoices[k].issue_date.year}"
        series[key] += 1
        inv_number[k] = f"{key}-{series[key]:06d}"
    cn_number: list[str] = [""] * len(w.credit_notes)
    for k in sorted(range(len(w.credit_notes)), key=cn_id.__getitem__):
        key = f"CN-{w.credit_notes[k][6].year}"
        series[key] += 1
        cn_number[k] = f"{key}-{series[key]:06d}"
    kept = [i for i in range(len(w.tx_t)) if i not in w.tx_removed]
    order = sorted(kept, key=w.tx_t.__getitem__)
    tx_id = [0] * len(w.tx_t)
    base = offsets["customers.Transaction"]
    for rank, i in enumerate(order, start=1):
        tx_id[i] = base + rank
    customers = {c.id: c for c in w.customers}

    # customers
    out = Writer(cursor, "customers.Customer", ["id", "name", "code", "billing_email", "currency", "account_type",
                                                "invoice_setup", "credit_limit", "show_invoices_tab",
                                                "amount_unbilled", "amount_due", "amount_reserved", "created_at"])
    created = ts(w.month_starts[0] - 30 * DAY)
    for c in w.customers:
        setup, kind, _ = PROFILES[c.profile]
        out.row(str(c.id), esc(c.name), c.code, f"billing@{c.code.lower()}.example", c.currency, kind, setup,
                money(c.credit_limit), "t" if c.id % 17 else "f", money(c.totals.unbilled), money(c.totals.due),
                money(c.totals.reserved), created)
    counts["customers"] = out.flush()

    # invoices and their lines
    out = Writer(cursor, "invoices.Invoice", ["id", "number", "customer_id", "type", "status", "name", "billing_to",
                                              "currency", "issue_date", "due_date", "period_start", "subtotal", "tax",
                                              "total", "amount_paid", "amount_credited", "source_key", "created_at",
                                              "sent_at", "emailed_at", "paid_at", "provisioned_at", "voided_at",
                                              "void_reason"])
    lines = Writer(cursor, "invoices.InvoiceLine", ["id", "invoice_id", "position", "description", "quantity",
                                                    "unit_price", "tax_rate", "amount", "tax_amount", "transaction_id",
                                                    "kind"])
    links = Writer(cursor, "invoices.InvoiceLineEntry", ["id", "line_id", "transaction_id"])
    line_id, link_id = offsets["invoices.InvoiceLine"], offsets["invoices.InvoiceLineEntry"]
    for k in sorted(range(len(w.invoices)), key=inv_id.__getitem__):
        v = w.invoices[k]
        c = customers[v.customer]
        out.row(str(inv_id[k]), inv_number[k], str(v.customer), v.type, v.status, esc(v.name),
                esc(f"{c.name}\nbilling@{c.code.lower()}.example"), c.currency, v.issue_date.isoformat(),
                v.due_date.isoformat(), v.period_start.isoformat() if v.period_start else r"\N", money(v.subtotal),
                money(v.tax), money(v.total), money(v.paid), money(v.credited), v.source_key or r"\N", ts(v.t_created),
                ts(v.t_created), ts(v.t_created + 60), ts(v.t_paid), ts(v.t_provisioned), ts(v.t_voided),
                esc(v.void_reason))
        for pos, (desc, qty, unit, rate, amount, tax, kind, txn, entries) in enumerate(v.lines, start=1):
            line_id += 1
            lines.row(str(line_id), str(inv_id[k]), str(pos), esc(desc), qty, money(unit), str(rate), money(amount),
                      money(tax), str(tx_id[txn]) if txn >= 0 else r"\N", kind)
            if txn >= 0:
                w.tx_link[txn] = ("purchase", k, line_id) if w.tx_link[txn][0] == "purchase" else w.tx_link[txn]
            for e in entries:
                link_id += 1
                links.row(str(link_id), str(line_id), str(tx_id[e]))
    counts["invoices"] = out.flush()
    counts["invoice lines"] = lines.flush()
    counts["invoice line entries"] = links.flush()

    # the ledger
    out = Writer(cursor, "customers.Transaction", ["id", "customer_id", "kind", "bucket", "amount", "occurred_at",
                                                   "posted_at", "reference", "description", "source_type",
                                                   "source_id", "idempotency_key", "billed_at", "billed_document"])
    n_tx = 0
    for i in order:
        link = w.tx_link[i]
        what = link[0]
        ref = desc = stype = ""
        sid = key = r"\N"
        if what == "usage":
            ref, desc = f"CDR-{i:09d}", link[1]
        elif what == "payment":
            p = link[1]
            ref, desc, stype, sid = w.payments[p].reference, f"Payment #{pay_id[p]} assigned", LEDGER_SOURCE["payment"], \
                str(pay_id[p])
        elif what == "invoice":
            k = link[1]
            v = w.invoices[k]
            ref, stype, sid, key = inv_number[k], LEDGER_SOURCE["invoice"], str(inv_id[k]), f"invoice:{inv_id[k]}:issue"
            desc = f"{v.type.capitalize()} invoice {inv_number[k]}"
        elif what == "purchase":
            k, lid = link[1], link[2]
            ref, desc, stype, sid = inv_number[k], w.invoices[k].lines[0][0], LEDGER_SOURCE["invoice"], str(inv_id[k])
            key = f"invoice-line:{lid}"
        elif what == "topup":
            tu = w.top_ups[link[1]]
            ref = f"Payment #{pay_id[tu[2]]}"
            desc, stype, sid = f"Top-up from payment #{pay_id[tu[2]]}", LEDGER_SOURCE["topup"], str(topup_id[link[1]])
        elif what in ("credit_unbilled", "credit_due"):
            k = link[1]
            ref, stype, sid = inv_number[k], LEDGER_SOURCE["invoice"], str(inv_id[k])
            desc = f"Credit applied to invoice {inv_number[k]}"
            key = f"invoice:{inv_id[k]}:credit:{'unbilled' if what == 'credit_unbilled' else 'due'}"
        elif what == "creditnote":
            cn = w.credit_notes[link[1]]
            ref, stype, sid = cn_number[link[1]], LEDGER_SOURCE["creditnote"], str(cn_id[link[1]])
            desc = f"Credit note {cn_number[link[1]]} against {inv_number[cn[2]]}"
        billed = w.tx_billed[i]
        t = ts(w.tx_t[i])
        out.row(str(tx_id[i]), str(w.tx_c[i]), w.tx_kind[i], w.tx_bucket[i], money(w.tx_amount[i]), t, t, esc(ref),
                esc(desc), stype, sid, key, ts(w.invoices[billed].t_created) if billed >= 0 else r"\N",
                inv_number[billed] if billed >= 0 else "")
        n_tx += 1
        if n_tx % 500_000 == 0:
            out.flush()
            log(f"  transactions: {n_tx:,}")
    out.flush()
    counts["transactions"] = n_tx

    # payments, allocations, top-ups, credit notes, credit applications
    out = Writer(cursor, "finance.Payment", ["id", "customer_id", "currency", "amount", "received_date", "method",
                                             "reference", "invoice_number", "remark", "amount_allocated",
                                             "amount_topped_up", "assignment_changes", "assigned_at", "created_at",
                                             "updated_at"])
    for k in sorted(range(len(w.payments)), key=pay_id.__getitem__):
        p = w.payments[k]
        t = ts(p.t)
        out.row(str(pay_id[k]), str(p.customer) if p.customer else r"\N", p.currency, money(p.amount),
                w.local_date(p.t).isoformat(), p.method, p.reference,
                inv_number[p.invoice_quoted] if p.invoice_quoted >= 0 else "", "", money(p.allocated), money(p.topped),
                "1" if p.customer else "0", t if p.customer else r"\N", t, t)
    counts["payments"] = out.flush()
    out = Writer(cursor, "finance.Allocation", ["id", "source", "payment_id", "invoice_id", "customer_id", "amount",
                                                "created_at", "created_by"])
    for k in sorted(range(len(w.allocations)), key=alloc_id.__getitem__):
        t, p, inv, cid, amount = w.allocations[k]
        out.row(str(alloc_id[k]), "payment", str(pay_id[p]), str(inv_id[inv]), str(cid), money(amount), ts(t), "finance")
    counts["allocations"] = out.flush()
    out = Writer(cursor, "finance.TopUp", ["id", "customer_id", "payment_id", "invoice_id", "allocation_id", "amount",
                                           "posted_to_ledger", "created_at", "created_by"])
    for k in sorted(range(len(w.top_ups)), key=topup_id.__getitem__):
        t, cid, p, inv, alloc, amount, posted = w.top_ups[k]
        out.row(str(topup_id[k]), str(cid), str(pay_id[p]), str(inv_id[inv]) if inv >= 0 else r"\N",
                str(alloc_id[alloc]) if alloc >= 0 else r"\N", money(amount), "t" if posted else "f", ts(t), "finance")
    counts["top-ups"] = out.flush()
    out = Writer(cursor, "finance.CreditNote", ["id", "number", "customer_id", "invoice_id", "currency", "amount",
                                                "reason", "issue_date", "created_at", "created_by"])
    for k in sorted(range(len(w.credit_notes)), key=cn_id.__getitem__):
        t, cid, inv, cur, amount, reason, issue = w.credit_notes[k]
        out.row(str(cn_id[k]), cn_number[k], str(cid), str(inv_id[inv]), cur, money(amount), reason, issue.isoformat(),
                ts(t), "finance")
    counts["credit notes"] = out.flush()
    out = Writer(cursor, "invoices.CreditApplication", ["id", "invoice_id", "customer_id", "source", "amount",
                                                        "transaction_id", "created_at"])
    for k, (t, inv, cid, source, amount, txn) in enumerate(w.credit_apps, start=offsets["invoices.CreditApplication"] + 1):
        out.row(str(k), str(inv_id[inv]), str(cid), source, money(amount), str(tx_id[txn]) if txn >= 0 else r"\N", ts(t))
    counts["credit applications"] = out.flush()

    # notifications of the invoices emailed
    out = Writer(cursor, "customers.Notification", ["id", "customer_id", "kind", "channel", "recipient", "subject",
                                                    "body", "status", "source_type", "source_id", "sent_at"])
    note_id = offsets["customers.Notification"]
    for t, cid, inv in sorted(w.notifications):
        note_id += 1
        c = customers[cid]
        out.row(str(note_id), str(cid), "invoice", "email", f"billing@{c.code.lower()}.example",
                esc(f"Invoice {inv_number[inv]} from {seller}"[:200]), "", "sent", "invoices.invoice", str(inv_id[inv]),
                ts(t))
    counts["notifications"] = out.flush()

    # open reservations, subscriptions, payment settings, master wallets
    out = Writer(cursor, "customers.Reservation", ["id", "customer_id", "kind", "amount", "status", "reference",
                                                   "created_at", "expires_at"])
    for k, (t, cid, amount) in enumerate(w.reservations, start=offsets["customers.Reservation"] + 1):
        out.row(str(k), str(cid), "call", money(amount), "open", f"call-{k}", ts(t), ts(t + 24 * HOUR))
    counts["reservations"] = out.flush()
    rng = w.rng
    out = Writer(cursor, "customers.Subscription", ["id", "customer_id", "product", "kind", "quantity", "period_months",
                                                    "renewal_date", "renewal_price", "renewal_cost", "is_active",
                                                    "created_at"])
    sub_id = offsets["customers.Subscription"]
    until_date = w.local_date(w.until)
    for c in w.customers:
        if rng.random() >= 0.4:
            continue
        for _ in range(rng.randrange(1, 3)):
            kind, desc, price = PRODUCTS[rng.randrange(4)]  # subscriptions and add-ons
            sub_id += 1
            out.row(str(sub_id), str(c.id), desc, kind, str(rng.randrange(1, 4)), "12" if "12" in desc else "1",
                    (until_date + dt.timedelta(days=rng.randrange(20, 60))).isoformat(), money(price),
                    money(price * rng.randrange(55, 105) // 100), "t" if rng.random() < 0.9 else "f", created)
    counts["subscriptions"] = out.flush()
    out = Writer(cursor, "finance.PaymentSettings", ["id", "customer_id", "method", "trigger_amount", "limit_threshold",
                                                     "auto_top_up_enabled", "updated_at", "updated_by"])
    ps_id = offsets["finance.PaymentSettings"]
    for c in w.customers:
        if c.profile in (IP, CP) and rng.random() < 0.5:
            continue
        ps_id += 1
        prepaid = c.profile in (IR, CR, NR)
        method = "cheque_tt" if c.profile == IR or rng.random() < 0.6 else "master_account"
        on = prepaid and rng.random() < 0.7
        out.row(str(ps_id), str(c.id), method, money(rng.choice((100, 200, 500, 1000)) * MICRO) if on else r"\N",
                money(rng.choice((20, 50, 100)) * MICRO) if on else r"\N", "t" if on else "f", created, "finance")
    counts["payment settings"] = out.flush()
    wallets = Writer(cursor, "customers.MasterWallet", ["id", "name", "currency", "balance"])
    entries = Writer(cursor, "customers.MasterWalletEntry", ["id", "wallet_id", "amount", "reference", "created_at"])
    for k, (name, cur, balance) in enumerate((("Master account", "SGD", 50_000_000), ("Master account USD", "USD",
                                                                                     5_000_000))):
        wid, eid = offsets["customers.MasterWallet"] + k + 1, offsets["customers.MasterWalletEntry"] + k + 1
        wallets.row(str(wid), name, cur, money(balance * MICRO))
        entries.row(str(eid), str(wid), money(balance * MICRO), "Opening balance (scale data)", created)
    counts["master wallets"] = wallets.flush()
    entries.flush()

    # the number series continue after the last number used
    for key, last in series.items():
        cursor.execute("INSERT INTO invoices_numberseries (key, last_value) VALUES (%s, %s) "
                       "ON CONFLICT (key) DO UPDATE SET last_value = EXCLUDED.last_value", [key, last])
    return counts


TABLES = ["customers.Customer", "customers.Transaction", "customers.Reservation", "customers.MasterWallet",
          "customers.MasterWalletEntry", "customers.Subscription", "customers.Notification", "invoices.Invoice",
          "invoices.InvoiceLine", "invoices.InvoiceLineEntry", "invoices.CreditApplication", "finance.Payment",
          "finance.Allocation", "finance.TopUp", "finance.CreditNote", "finance.PaymentSettings"]


def drop_indexes_and_foreign_keys(cursor, tables: list[str]) -> list[str]:
    """Bulk loading: drop the secondary indexes and foreign keys of the tables (inside the transaction) and
    return the statements that put them back exactly as they were. Building an index once is many times
    faster than maintaining it row by row, and re-adding a foreign key checks every row with one join
    instead of a deferred trigger per row; the checks still run, so the data is proven as consistent."""
    cursor.execute("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])
         ORDER BY 1, 2""", [tables])
    fks = cursor.fetchall()
    cursor.execute("""
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
          FROM pg_index i
         WHERE i.indrelid = ANY(%s::regclass[])
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
         ORDER BY 1""", [tables])
    indexes = cursor.fetchall()
    for table, name, _ in fks:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in fks]


def generate(opts: Options, log) -> dict[str, int]:
    from customers.models import Customer as CustomerModel
    from finance.services.aged_receivables import aged_receivables_refresh

    if CustomerModel.objects.exists():
        raise GenerationError("This database already has customers: bench/generate.py fills an empty database "
                              "(re-create it: bench/run_all.sh drops and re-creates the bench database).")
    for name in ("customers", "transactions", "invoices", "payments"):
        if getattr(opts, name) < 1:
            raise GenerationError(f"--{name} must be at least 1.")
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    offsets = {}
    with connection.cursor() as cursor:
        for label in TABLES:
            table = apps.get_model(label)._meta.db_table
            cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608 - a model's table
            offsets[label] = cursor.fetchone()[0]
    started = time.monotonic()
    world = plan_and_simulate(opts, tz, offsets["customers.Customer"] + 1, log)
    log(f"simulated the history in {time.monotonic() - started:.0f}s; writing with COPY")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")  # one big transaction; it either commits or not
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        tables = [apps.get_model(label)._meta.db_table for label in TABLES]
        restore = drop_indexes_and_foreign_keys(cursor, tables)
        counts = write(world, cursor, offsets, log)
        log(f"written in {time.monotonic() - started:.0f}s; building {len(restore)} indexes and foreign keys")
        for statement in restore:
            cursor.execute(statement)
        for label in TABLES:
            table = apps.get_model(label)._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                           f'GREATEST((SELECT MAX(id) FROM "{table}"), 1))')
    if not connection.in_atomic_block:  # VACUUM cannot run inside a transaction (the smoke test's)
        log(f"committed in {time.monotonic() - started:.0f}s; VACUUM ANALYZE")
        with connection.cursor() as cursor:
            for label in TABLES:
                cursor.execute(f'VACUUM (ANALYZE) "{apps.get_model(label)._meta.db_table}"')
    aged_receivables_refresh()  # today's aged receivables, as the beat task would have it
    log(f"done in {time.monotonic() - started:.0f}s")
    return counts


def parse(argv: list[str] | None = None) -> Options:
    d = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate",
        description=("Fill an empty database with a year of a reseller at production scale (default 100k "
                     "customers, 2M transactions, 300k invoices, 300k payments), with PostgreSQL COPY; "
                     "check_ledger stays clean."))
    parser.add_argument("--customers", type=int, default=d.customers)
    parser.add_argument("--transactions", type=int, default=d.transactions)
    parser.add_argument("--invoices", type=int, default=d.invoices)
    parser.add_argument("--payments", type=int, default=d.payments)
    parser.add_argument("--months", type=int, default=d.months)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--until", help="YYYY-MM: the history ends when this month starts (default: this month)")
    o = parser.parse_args(argv)
    until = None
    if o.until:
        try:
            until = dt.date.fromisoformat(f"{o.until}-01")
        except ValueError:
            parser.error(f"--until must be a month as YYYY-MM, not {o.until!r}.")
    return Options(customers=o.customers, transactions=o.transactions, invoices=o.invoices, payments=o.payments,
                   months=o.months, seed=o.seed, until=until)


def run(argv: list[str] | None = None, log=print) -> dict[str, int]:
    """Generate into the database Django is configured for (the tests' test database)."""
    counts = generate(parse(argv), log)
    log("; ".join(f"{v:,} {k}" for k, v in counts.items()))
    return counts


def main() -> None:
    setup_django()

    def log(message: str) -> None:
        print(message, flush=True)

    try:
        run(sys.argv[1:], log)
    except GenerationError as error:
        raise SystemExit(str(error))


if __name__ == "__main__":
    main()
