"""Reads: the customer list, a customer's figures and the rows behind each, the unbilled rule of each
invoice setup, and the ledger check (every running total against its rows, set-based)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Count, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Lower

from .models import (
    CHARGE_KINDS,
    Bucket,
    Customer,
    MasterWallet,
    MasterWalletEntry,
    Notification,
    Reservation,
    Subscription,
    Transaction,
    TransactionKind,
    search_document,
)
from .money import ZERO, MoneyField

LATEST_TRANSACTIONS = 100


# --- The customer list ----------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W_]+")  # a run of letters or digits, as `[[:alnum:]]+` in models.SEARCH_DOCUMENT_SQL


def search_words(q: str) -> list[str]:
    """The words of a search as the search document holds them: lower-cased, accents removed (NFKD, then the
    combining marks U+0300-U+036F dropped, as models.SEARCH_DOCUMENT_SQL does), split on anything that is not
    a letter or digit. "Société-Générale" -> ["societe", "generale"]."""
    text = unicodedata.normalize("NFKD", (q or "").lower())
    text = "".join(ch for ch in text if not "\u0300" <= ch <= "\u036f")
    return _WORD.findall(text)


def customer_search(qs: QuerySet, q: str) -> QuerySet:
    """Customers with a word of their name or code starting with each word typed, in any order and case,
    accents ignored: "logist" finds "Acme Logistics Ltd", "acme log" too, "C0000" the codes C00001...,
    "ACME-S" the code ACME-SG. One GIN index lookup (customer_search_idx); a search with no letter or digit
    matches nobody."""
    words = search_words(q)
    if not words:
        return qs.none()
    query = SearchQuery(" & ".join(f"{w}:*" for w in words), search_type="raw", config="simple")
    return qs.alias(search=search_document()).filter(search=query)


def customer_search_any(qs: QuerySet, words: Iterable[str]) -> QuerySet:
    """Customers with a word of their name or code starting with any of `words` (each normalised as
    customer_search normalises what is typed), from the same GIN index; none for no word."""
    terms = sorted({w for word in words for w in search_words(word)})
    if not terms:
        return qs.none()
    query = SearchQuery(" | ".join(f"{w}:*" for w in terms), search_type="raw", config="simple")
    return qs.alias(search=search_document()).filter(search=query)


def customer_options(q: str, *, currency: str = "", limit: int = 20) -> QuerySet:
    """The customer picker's suggestions (customers.forms.CustomerPicker): customers whose name or code has words
    starting with those typed (customer_search: one GIN index lookup), optionally of one currency, at most
    `limit`, by name."""
    found = customer_search(Customer.objects.all(), q)
    if currency:
        found = found.filter(currency=currency.upper())
    # Ordered by the name lower-cased, which no index gives: the planner reads the matches from the GIN index and
    # sorts them, rather than walking the name index and testing each customer's words (1.1-1.6 s when none
    # match at 100,000 customers: measured on main before issue 23's picker moved here).
    return found.only("id", "code", "name", "currency").order_by(Lower("name"), "id")[:limit]


def customer_list() -> QuerySet:
    """Every customer by name (customers.filters.CustomerFilterSet filters them); figures are columns of the
    row itself."""
    return Customer.objects.order_by("name", "id")


def currencies() -> list[str]:
    """The currencies customers use, in order, read from customer_currency_idx by a loose index scan (one
    index probe per currency) instead of a DISTINCT over every customer."""
    with connection.cursor() as cursor:
        cursor.execute("""
            WITH RECURSIVE c(currency) AS (
                (SELECT currency FROM customers_customer ORDER BY currency LIMIT 1)
                UNION ALL
                SELECT (SELECT n.currency FROM customers_customer n WHERE n.currency > c.currency
                         ORDER BY n.currency LIMIT 1)
                  FROM c WHERE c.currency IS NOT NULL
            )
            SELECT currency FROM c WHERE currency IS NOT NULL""")
        return [row[0] for row in cursor.fetchall()]


# --- A customer's figures -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    """The figures of DESIGN.md, signed: + is CR (in the customer's favour), - is DR."""

    currency: str
    expecting_invoice: Decimal
    amount_due: Decimal
    current_balance: Decimal
    credit_limit: Decimal
    reserved: Decimal
    usable_credits: Decimal
    amount_due_counted: Decimal  # max(amount due, 0): only a CR amount due adds to usable credits

    @property
    def reserved_signed(self) -> Decimal:
        """Reserved credits shown as held against the customer (DR)."""
        return -self.reserved


def customer_figures(customer: Customer) -> Figures:
    return Figures(
        currency=customer.currency,
        expecting_invoice=customer.expecting_invoice,
        amount_due=customer.amount_due,
        current_balance=customer.current_balance,
        credit_limit=customer.credit_limit,
        reserved=customer.amount_reserved,
        usable_credits=customer.usable_credits,
        amount_due_counted=max(customer.amount_due, ZERO),
    )


def usable_credits_if(customer: Customer, **totals: Decimal) -> Decimal:
    """The customer's usable credits if its totals were `totals` (a preview of a change not made yet): the generated
    column's own expression over those values, computed by PostgreSQL, nothing written."""
    usable = Customer._meta.get_field("usable_credits")
    values = {F(name): Value(value, output_field=MoneyField()) for name, value in totals.items()}
    expression = ExpressionWrapper(usable.expression.replace_expressions(values), output_field=usable.output_field)
    return Customer.objects.filter(pk=customer.pk).values_list(expression, flat=True).get()


# --- The rows behind the figures ------------------------------------------------------------------------
# The rows behind each figure. An entry billed by an invoice no longer counts (the invoice's total, on the
# due side, stands for it), so only "balance" and its two parts add up to a figure.
_UNBILLED = Q(bucket=Bucket.UNBILLED, billed_at__isnull=True)
_DUE = Q(bucket=Bucket.DUE)
TRANSACTION_VIEWS = {
    "unbilled": ("Expecting invoice (unbilled)", _UNBILLED),
    "due": ("Amount due (billed side)", _DUE),
    "balance": ("Current balance (expecting invoice + amount due)", _UNBILLED | _DUE),
    "billed": ("Billed by an invoice (counted by the invoice)", Q(billed_at__isnull=False)),
}


def transactions_for(customer: Customer, *, kind: str = "") -> QuerySet:
    """A customer's non-zero entries, newest first, optionally one kind (the API's filter; the transactions
    tab filters with customers.filters.TransactionFilterSet)."""
    qs = Transaction.objects.filter(customer=customer).exclude(amount=0)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-occurred_at", "-id")


@dataclass(slots=True)
class TransactionRow:
    """One entry as the transactions tab shows it: the columns it reads, not a model instance (100 of them
    read as values 0.6 ms quicker than as instances, bench issue 9)."""

    pk: int
    kind: str
    bucket: str
    amount: Decimal
    occurred_at: dt.datetime
    reference: str
    description: str
    reverses_id: int | None
    billed_at: dt.datetime | None
    billed_document: str
    is_reversed: bool

    COLUMNS = ("pk", "kind", "bucket", "amount", "occurred_at", "reference", "description", "reverses_id",
               "billed_at", "billed_document", "is_reversed")

    @property
    def is_reversible(self) -> bool:
        """A charge that is not itself a correction (and, with is_reversed, not corrected yet)."""
        return self.kind in CHARGE_KINDS and self.reverses_id is None

    def get_kind_display(self) -> str:
        return TransactionKind(self.kind).label


@dataclass
class TransactionGroup:
    kind: str
    label: str
    rows: list[TransactionRow] = field(default_factory=list)
    subtotal: Decimal = ZERO


def group_by_kind(rows: Iterable[TransactionRow]) -> list[TransactionGroup]:
    """Rows grouped by kind, in TransactionKind's order, each with its subtotal."""
    groups: dict[str, TransactionGroup] = {}
    for row in rows:
        group = groups.get(row.kind)
        if group is None:
            group = groups[row.kind] = TransactionGroup(kind=row.kind, label=row.get_kind_display())
        group.rows.append(row)
        group.subtotal += row.amount
    order = {k.value: i for i, k in enumerate(TransactionKind)}
    return sorted(groups.values(), key=lambda g: order.get(g.kind, len(order)))


def transaction_summary(qs: QuerySet) -> dict:
    """The latest 100 of the entries `qs` matches (a customer's, transactions_for, filtered) grouped by kind,
    and the count and total of all of them (so a figure with more than 100 rows behind it still adds up on
    the page). Three queries."""
    reversed_ = Transaction.objects.filter(reverses_id=OuterRef("pk"))
    latest = [TransactionRow(*values) for values in qs.annotate(is_reversed=Exists(reversed_)).values_list(
        *TransactionRow.COLUMNS)[:LATEST_TRANSACTIONS]]
    totals = qs.aggregate(count=Count("id"), total=Sum("amount"))
    return {
        "groups": group_by_kind(latest),
        "shown": len(latest),
        "count": totals["count"],
        "total": totals["total"] or ZERO,
        "shown_total": sum((r.amount for r in latest), ZERO),
    }


def reservations_for(customer: Customer) -> QuerySet:
    """A customer's reservations, newest first (customers.filters.ReservationFilterSet filters them: the open
    ones by default, served by reservation_customer_idx)."""
    return Reservation.objects.filter(customer=customer).select_related("charge").order_by("-created_at", "-id")


def subscriptions_for(customer: Customer) -> QuerySet:
    """A customer's subscriptions, next renewal first (customers.filters.SubscriptionFilterSet filters them)."""
    return (Subscription.objects.filter(customer=customer)
            .annotate(margin_value=F("renewal_price") - F("renewal_cost")).order_by("renewal_date", "id"))


def subscription_totals(customer: Customer) -> dict:
    totals = Subscription.objects.filter(customer=customer, is_active=True).aggregate(
        price=Sum(F("renewal_price") * F("quantity")), cost=Sum(F("renewal_cost") * F("quantity")),
        negative=Count("id", filter=Q(renewal_cost__gt=F("renewal_price"))))
    price, cost = totals["price"] or ZERO, totals["cost"] or ZERO
    return {"price": price, "cost": cost, "margin": price - cost, "negative": totals["negative"]}


def notifications_for(customer: Customer) -> QuerySet:
    """A customer's notifications, newest first (customers.filters.NotificationFilterSet filters them)."""
    return Notification.objects.filter(customer=customer).order_by("-sent_at", "-id")


# --- The master wallet ----------------------------------------------------------------------------------
def master_wallets() -> QuerySet:
    return MasterWallet.objects.order_by("currency", "pk")


def default_wallet_id(currency: str) -> int | None:
    """The master wallet credit in `currency` is issued from: the first one opened in that currency."""
    return MasterWallet.objects.filter(currency=currency).order_by("pk").values_list("pk", flat=True).first()


def default_wallet(currency: str) -> MasterWallet | None:
    """That wallet itself (default_wallet_id), read without a lock: its balance as of now."""
    return MasterWallet.objects.filter(currency=currency).order_by("pk").first()


def master_wallet_entries(wallet: MasterWallet) -> QuerySet:
    return MasterWalletEntry.objects.filter(wallet=wallet).select_related("customer").order_by("-created_at", "-id")


# --- The unbilled rule of each invoice setup (DESIGN.md, "The customer account and its figures") ---------
# --- The ledger check -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mismatch:
    what: str  # "customer", "master wallet", "transfer", "reservation"
    key: str  # e.g. "ACME (#3)"
    field: str
    cached: Decimal | None
    from_rows: Decimal | None

    def __str__(self) -> str:
        if self.cached is None and self.from_rows is None:
            return f"{self.what} {self.key}: {self.field}"
        return f"{self.what} {self.key}: {self.field} is {self.cached}, the rows add up to {self.from_rows}"


# One GROUP BY over the ledger and one over open reservations, joined to the customers' running totals.
# Only customers that differ come back, so the result is small whatever the table sizes.
_CUSTOMER_CHECK_SQL = """
WITH t AS (
    SELECT customer_id,
           SUM(amount) FILTER (WHERE bucket = 'unbilled' AND billed_at IS NULL) AS unbilled,
           SUM(amount) FILTER (WHERE bucket = 'due') AS due
    FROM customers_transaction
    GROUP BY customer_id
), r AS (
    SELECT customer_id, SUM(amount) AS reserved
    FROM customers_reservation
    WHERE status = 'open'
    GROUP BY customer_id
)
SELECT c.id, c.code, c.amount_unbilled, COALESCE(t.unbilled, 0), c.amount_due, COALESCE(t.due, 0),
       c.amount_reserved, COALESCE(r.reserved, 0)
FROM customers_customer c
LEFT JOIN t ON t.customer_id = c.id
LEFT JOIN r ON r.customer_id = c.id
WHERE c.amount_unbilled <> COALESCE(t.unbilled, 0)
   OR c.amount_due <> COALESCE(t.due, 0)
   OR c.amount_reserved <> COALESCE(r.reserved, 0)
ORDER BY c.id
"""

_WALLET_CHECK_SQL = """
SELECT w.id, w.name, w.balance, COALESCE(SUM(e.amount), 0) AS from_rows
FROM customers_masterwallet w
LEFT JOIN customers_masterwalletentry e ON e.wallet_id = w.id
GROUP BY w.id, w.name, w.balance
HAVING w.balance <> COALESCE(SUM(e.amount), 0)
ORDER BY w.id
"""

# A transfer has two legs: the customer's TRANSFER entry and the wallet's entry of the opposite amount.
# Read from both sides with anti-joins rather than one FULL OUTER JOIN of the whole ledger: the first half
# reads only the transfers, the second only the wallet's entries (on 2,000,000 transactions: 0.1 s, not 1 s).
_TRANSFER_CHECK_SQL = """
SELECT t.id, t.amount, e.id, e.amount
FROM customers_transaction t
LEFT JOIN customers_masterwalletentry e ON e.transaction_id = t.id
WHERE t.kind = 'transfer' AND (e.id IS NULL OR e.amount <> -t.amount)
UNION ALL
SELECT t.id, t.amount, e.id, e.amount
FROM customers_masterwalletentry e
LEFT JOIN customers_transaction t ON t.id = e.transaction_id
WHERE (e.customer_id IS NOT NULL OR e.transaction_id IS NOT NULL)
  AND (t.id IS NULL OR (t.kind <> 'transfer' AND e.amount <> -t.amount))
ORDER BY 1, 3
"""

# A committed reservation posted exactly its final amount (none when it is zero).
_RESERVATION_CHECK_SQL = """
SELECT r.id, r.committed_amount, t.amount
FROM customers_reservation r
LEFT JOIN customers_transaction t ON t.id = r.charge_id
WHERE r.status = 'committed'
  AND COALESCE(-t.amount, 0) <> r.committed_amount
ORDER BY r.id
"""


def ledger_mismatches() -> list[Mismatch]:
    """Every running total that differs from its rows, and every transfer or commit whose legs disagree.
    Set-based: four queries, whatever the number of customers."""
    found: list[Mismatch] = []
    with connection.cursor() as cursor:
        cursor.execute(_CUSTOMER_CHECK_SQL)
        for pk, code, unbilled, unbilled_rows, due, due_rows, reserved, reserved_rows in cursor.fetchall():
            key = f"{code} (#{pk})"
            for name, cached, rows in (("amount_unbilled (expecting invoice)", unbilled, unbilled_rows),
                                       ("amount_due", due, due_rows),
                                       ("amount_reserved", reserved, reserved_rows)):
                if cached != rows:
                    found.append(Mismatch("customer", key, name, cached, rows))
        cursor.execute(_WALLET_CHECK_SQL)
        for pk, name, balance, rows in cursor.fetchall():
            found.append(Mismatch("master wallet", f"{name} (#{pk})", "balance", balance, rows))
        cursor.execute(_TRANSFER_CHECK_SQL)
        for txn_id, txn_amount, entry_id, entry_amount in cursor.fetchall():
            if entry_id is None:
                detail = f"transaction #{txn_id} ({txn_amount}) has no master-wallet leg"
            elif txn_id is None:
                detail = f"master-wallet entry #{entry_id} ({entry_amount}) has no customer leg"
            else:
                detail = f"transaction #{txn_id} is {txn_amount} but its wallet entry #{entry_id} is {entry_amount}"
            found.append(Mismatch("transfer", f"#{txn_id or entry_id}", detail, None, None))
        cursor.execute(_RESERVATION_CHECK_SQL)
        for pk, committed, charged in cursor.fetchall():
            found.append(Mismatch("reservation", f"#{pk}", "charge posted on commit", committed,
                                  -charged if charged is not None else ZERO))
    return found
