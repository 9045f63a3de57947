"""Suggestions for statement lines: what each line probably is, ranked, each with its reasons in words.

Money in (+):
- invoice numbers found in the remittance text or reference (the invoice series' own pattern,
  invoices.numbering.number_pattern), with their open amounts: allocate to them;
- a customer named by its code in the text, or known by the payer's account from a line reconciled before;
- a payer name close to a customer's name (rapidfuzz, names without "Pte Ltd", "Inc", punctuation);
- for a customer found, the one open invoice whose open amount is exactly the line's amount;
- a payment already recorded with the same amount and currency, received within DATE_WINDOW days, with the
  line's reference: link to it (never record it a second time).
Money out (-): a withdrawal already recorded with the same amount, within DATE_WINDOW days: it is cleared.

Reads only; a batch of lines costs a fixed number of queries plus the fuzzy comparison of payer names."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BooleanField, F, Func
from django.db.models.expressions import RawSQL
from rapidfuzz import fuzz, process, utils

from customers.models import Customer
from customers.money import ZERO, display
from customers.selectors import customer_search_any
from finance.models import Payment, Withdrawal
from invoices.models import OPEN_STATUSES, Invoice, InvoiceType
from invoices.numbering import number_pattern
from invoices.services.common import INVOICE_SERIES

from .models import StatementLine, SuggestionKind

DATE_WINDOW = 7  # days between the bank's booking and a payment's received date (or a withdrawal's paid date)
HIGH = 90  # a suggestion scoring this or more is "high confidence": confirm all confirms it
NAME_CUTOFF = 86  # rapidfuzz token_set_ratio of the normalised names
MAX_SUGGESTIONS = 3
_LEGAL = re.compile(r"\b(pte|ltd|limited|llc|inc|corp|corporation|co|company|gmbh|bv|sa|plc|sdn|bhd|pty)\b\.?",
                    re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,31}")


@dataclass
class Candidate:
    score: int
    kind: str
    reasons: list[str]
    customer: Customer | None = None
    payment: Payment | None = None
    withdrawal: Withdrawal | None = None
    allocations: list[dict] = field(default_factory=list)

    def key(self) -> tuple:
        return (self.kind, self.customer.pk if self.customer else None, self.payment.pk if self.payment else None,
                self.withdrawal.pk if self.withdrawal else None, tuple(a["invoice"] for a in self.allocations))


def text_array(values) -> RawSQL:
    """`field__in=text_array(values)`: the values as one text[] parameter (unnest), not one parameter each: a 50,000-line
    statement names ~100,000 words, and building and sending that many parameters cost seconds."""
    return RawSQL("SELECT unnest(%s::text[])", (sorted(values),))


def any_of(field: str, values, sql_type: str) -> Func:
    """A condition `field = ANY(<the values as one sql_type[] parameter>)`: a filter on each row, where
    `IN (SELECT unnest(...))` is a join that the planner may nest inside another join (the matcher's payments,
    anti-joined to the statement lines, with stale statistics after a large import: 30,000 amounts x 12,000
    payments compared one by one, 328 s of the bench import on 2026-12-07)."""
    array = RawSQL(f"%s::{sql_type}[]", (sorted(values),))
    return Func(F(field), array, template="(%(expressions)s))", arg_joiner=" = ANY(", output_field=BooleanField())


# What the matcher reads of the rows it loads by the thousand (a 50,000-line statement: ~80,000 rows; every column
# of a customer or an invoice built into each instance cost seconds): the fields its rules and reasons use.
_CUSTOMER = ("id", "name", "code", "currency")
_INVOICE = ("id", "number", "customer_id", "type", "status", "currency", "due_date", "total", "amount_paid",
            "amount_credited")
_CUSTOMER_OF = tuple(f"customer__{name}" for name in _CUSTOMER)


def normal_name(name: str) -> str:
    return utils.default_process(_LEGAL.sub(" ", name or ""))


class _NameIndex:
    """Customers' names, normalised, and which customers each word of a name belongs to: a payer's name is compared
    (rapidfuzz) only with the customers sharing its rarest word, if fewer than RARE customers have it (a payer and
    the customer it is always share a distinctive word; comparing with every one of 100,000 names, or with all
    who share a common word such as "global", made the 50,000-line bench spend most of its time here). Loaded on
    the first name asked for, one query: every customer's name for a large batch (an import), only the customers
    with a word starting as one of the payers' words for a few payers (one line suggested again, an undo: loading
    100,000 names took 2-2.7 s a line on the bench data under load 7; the customer search's GIN index gives the
    few, a superset of those sharing a word, so the rarest word and the comparison are the same)."""

    RARE = 300
    FEW = 50  # payer names up to which only the customers sharing a word prefix are loaded

    def __init__(self, currencies: set[str], payers: list[str]):
        self.currencies = currencies
        self.names: dict[int, str] | None = None
        self.words: dict[str, list[int]] = {}
        self.payer_words = {w for p in payers for w in normal_name(p).split()} if len(payers) <= self.FEW else None

    def _load(self) -> None:
        self.names = {}
        customers = Customer.objects.filter(currency__in=self.currencies)
        if self.payer_words is not None:
            customers = customer_search_any(customers, self.payer_words)
        for pk, name in customers.values_list("pk", "name"):
            normal = normal_name(name)
            self.names[pk] = normal
            for word in set(normal.split()):
                self.words.setdefault(word, []).append(pk)

    def best(self, name: str) -> tuple[int, int] | None:
        """(customer pk, similarity) of the closest name at NAME_CUTOFF or more, or None."""
        wanted = normal_name(name)
        if not wanted:
            return None
        if self.names is None:
            self._load()
        sharing = [self.words[word] for word in set(wanted.split()) if word in self.words]
        if not sharing:
            return None
        rarest = min(sharing, key=len)
        if len(rarest) > self.RARE:
            return None
        best = process.extractOne(wanted, {pk: self.names[pk] for pk in rarest}, scorer=fuzz.token_set_ratio,
                                  score_cutoff=NAME_CUTOFF)
        return (best[2], int(best[1])) if best else None


class Matcher:
    """Suggestions for a batch of lines of one currency, reading what they need in a few queries."""

    def __init__(self, lines: list[StatementLine]):
        self.lines = lines
        currencies = {line.currency for line in lines}
        texts = [f"{line.remittance_text} {line.reference}" for line in lines]
        pattern = number_pattern(INVOICE_SERIES)
        numbers = {f"{INVOICE_SERIES}-{y}-{n}" for text in texts for y, n in pattern.findall(text)}
        self.invoices = {i.number: i for i in Invoice.objects.select_related("customer").only(*_INVOICE, *_CUSTOMER_OF)
                         .filter(number__in=text_array(numbers), status__in=OPEN_STATUSES, currency__in=currencies)
                         .exclude(type=InvoiceType.TOP_UP)} if numbers else {}
        tokens = {t.upper() for text in texts for t in _TOKEN.findall(text)}
        self.by_code = {c.code.upper(): c for c in Customer.objects.only(*_CUSTOMER)
                        .filter(code__in=text_array(tokens), currency__in=currencies)} if tokens else {}
        accounts = {line.payer_account for line in lines if line.payer_account}
        self.by_account: dict[str, Customer] = {}
        if accounts:
            known = (StatementLine.objects.filter(payer_account__in=accounts, payment__customer__isnull=False)
                     .select_related("payment__customer").order_by("payer_account", "-reconciled_at"))
            for line in known:
                self.by_account.setdefault(line.payer_account, line.payment.customer)
        credits = [line for line in lines if line.amount > 0]
        debits = [line for line in lines if line.amount < 0]
        self.payments = self._near(Payment.objects.filter(deleted_at__isnull=True, statement_line__isnull=True)
                                   .select_related("customer")
                                   .only("id", "amount", "currency", "received_date", "reference", "customer_id",
                                         *_CUSTOMER_OF), credits, "received_date", sign=1)
        self.withdrawals = self._near(Withdrawal.objects.filter(statement_line__isnull=True)
                                      .select_related("customer")
                                      .only("id", "amount", "currency", "paid_date", "reference", "customer_id",
                                            *_CUSTOMER_OF), debits, "paid_date", sign=-1)
        # Who each line of money in names (invoice numbers, a customer code, a known payer account, else a payer
        # name close to a customer's), then every open invoice of those customers: a few queries per batch.
        self.named: dict[int, list[Invoice]] = {}
        self.customers_of: dict[int, list[tuple[Customer, int, str]]] = {}
        by_name: dict[int, tuple[int, int]] = {}
        unnamed = []
        for line in credits:
            named, customers = self._named_and_customers(line)
            self.named[line.pk], self.customers_of[line.pk] = named, customers
            if not named and not customers and line.payer_name:
                unnamed.append(line)
        names = _NameIndex(currencies, [line.payer_name for line in unnamed])
        for line in unnamed:
            match = names.best(line.payer_name)
            if match:
                by_name[line.pk] = match
        found = Customer.objects.only(*_CUSTOMER).in_bulk({pk for pk, _ in by_name.values()})
        payers = {line.pk: line.payer_name for line in credits}
        for line_pk, (pk, similarity) in by_name.items():
            c = found[pk]
            self.customers_of[line_pk].append((c, 40 + similarity // 4,
                                               f"the payer {payers[line_pk]!r} is close to the customer {c.name!r} "
                                               f"({similarity}% alike)"))
        wanted = {c.pk for pairs in self.customers_of.values() for c, _, _ in pairs}
        self._open: dict[int, list[Invoice]] = {pk: [] for pk in wanted}
        if wanted:
            for invoice in (Invoice.objects.only(*_INVOICE)
                            .filter(any_of("customer_id", wanted, "bigint"), status__in=OPEN_STATUSES)
                            .exclude(type=InvoiceType.TOP_UP).order_by("due_date", "pk")):
                self._open[invoice.customer_id].append(invoice)

    def _named_and_customers(self, line: StatementLine) -> tuple[list[Invoice], list[tuple[Customer, int, str]]]:
        text = f"{line.remittance_text} {line.reference}"
        pattern = number_pattern(INVOICE_SERIES)
        named = [self.invoices[f"{INVOICE_SERIES}-{y}-{n}"] for y, n in pattern.findall(text)
                 if f"{INVOICE_SERIES}-{y}-{n}" in self.invoices]
        customers: list[tuple[Customer, int, str]] = []
        for token in sorted({t.upper() for t in _TOKEN.findall(text)}):
            if token in self.by_code:
                c = self.by_code[token]
                customers.append((c, 75, f"the customer code {c.code} is in the remittance text"))
        if line.payer_account in self.by_account:
            c = self.by_account[line.payer_account]
            customers.append((c, 75, f"the payer's account {line.payer_account} paid {c.name} before"))
        return list(dict.fromkeys(named)), customers

    @staticmethod
    def _near(queryset, lines, date_field: str, sign: int) -> dict:
        if not lines:
            return {}
        amounts = {sign * line.amount for line in lines}
        first = min(line.booking_date for line in lines) - dt.timedelta(days=DATE_WINDOW)
        last = max(line.booking_date for line in lines) + dt.timedelta(days=DATE_WINDOW)
        found: dict = {}
        for row in queryset.filter(any_of("amount", amounts, "numeric"), **{f"{date_field}__range": (first, last)}) \
                .order_by("pk"):
            found.setdefault((row.amount, row.currency), []).append(row)
        return found

    def _open_invoices(self, customer: Customer) -> list[Invoice]:
        return self._open.get(customer.pk, [])

    # --- one line ---------------------------------------------------------------------------------------
    def suggest(self, line: StatementLine) -> list[Candidate]:
        found = self._credit(line) if line.amount > 0 else self._debit(line)
        best: dict[tuple, Candidate] = {}
        for candidate in found:
            key = candidate.key()
            if key not in best or best[key].score < candidate.score:
                best[key] = candidate
        return sorted(best.values(), key=lambda c: -c.score)[:MAX_SUGGESTIONS]

    def _debit(self, line: StatementLine) -> list[Candidate]:
        found = []
        for w in self.withdrawals.get((-line.amount, line.currency), []):
            days = abs((w.paid_date - line.booking_date).days)
            if days > DATE_WINDOW:
                continue
            refs = {r for r in (line.reference, line.bank_reference) if r}
            same_ref = bool(w.reference) and w.reference in refs
            reasons = [f"Withdrawal #{w.pk} to {w.customer.name}: {display(w.amount)} {w.currency} paid "
                       f"{w.paid_date:%Y-%m-%d}, {days} day{'s' if days != 1 else ''} from the booking"]
            if same_ref:
                reasons.append(f"same reference {w.reference}")
            found.append(Candidate(score=95 if same_ref else 75, kind=SuggestionKind.CLEAR_WITHDRAWAL,
                                   reasons=reasons, customer=w.customer, withdrawal=w))
        return found

    def _credit(self, line: StatementLine) -> list[Candidate]:
        found: list[Candidate] = []
        refs = {r for r in (line.reference, line.bank_reference) if r}
        for p in self.payments.get((line.amount, line.currency), []):
            days = abs((p.received_date - line.booking_date).days)
            if days > DATE_WINDOW:
                continue
            same_ref = bool(p.reference) and p.reference in refs
            reasons = [f"Payment #{p.pk} of {display(p.amount)} {p.currency} is already recorded, received "
                       f"{p.received_date:%Y-%m-%d} ({days} day{'s' if days != 1 else ''} apart): link to it, "
                       "not a second payment"]
            if same_ref:
                reasons.append(f"same reference {p.reference}")
            found.append(Candidate(score=97 if same_ref else 60, kind=SuggestionKind.LINK_PAYMENT, reasons=reasons,
                                   customer=p.customer, payment=p))
        named, customers = self.named.get(line.pk, []), self.customers_of.get(line.pk, [])
        if named:
            found.append(self._invoices_named(line, named))
        for customer, score, reason in customers:
            if customer.currency != line.currency:
                continue
            found.append(_for_customer(line, customer, score, reason, self._open_invoices(customer)))
        return found

    def _invoices_named(self, line: StatementLine, named: list[Invoice]) -> Candidate:
        customer = named[0].customer
        own = [i for i in named if i.customer_id == customer.pk]
        left, allocations, reasons = line.amount, [], []
        for invoice in own:
            take = min(left, invoice.amount_outstanding)
            reasons.append(f"{invoice.number} is in the remittance text, open {display(invoice.amount_outstanding)} "
                           f"{invoice.currency}")
            if take > ZERO:
                allocations.append({"invoice": invoice.pk, "number": invoice.number, "amount": str(take)})
                left -= take
        open_total = sum((i.amount_outstanding for i in own), ZERO)
        if open_total == line.amount:
            score = 96
            reasons.append("the line's amount is exactly what they have open")
        elif left > ZERO:
            score = 80
            reasons.append(f"{display(left)} more than they have open: left unallocated on the payment")
        else:
            score = 82
            reasons.append(f"{display(open_total - line.amount)} less than they have open: paid in part")
        if len(own) != len(named):
            score -= 20
            reasons.append("invoices of another customer are named too: only those of the first are allocated")
        return Candidate(score=score, kind=SuggestionKind.ALLOCATE, customer=customer, allocations=allocations,
                         reasons=reasons)


def _for_customer(line: StatementLine, customer: Customer, score: int, reason: str,
                  open_invoices: list[Invoice]) -> Candidate:
    """Money in from a customer found (`reason`): allocated to its one open invoice of exactly the line's amount,
    else recorded for the customer to allocate later."""
    exact = [i for i in open_invoices if i.amount_outstanding == line.amount]
    if len(exact) == 1:
        invoice = exact[0]
        return Candidate(score=min(score + 18, 96), kind=SuggestionKind.ALLOCATE, customer=customer,
                         reasons=[reason, f"{invoice.number} of {customer.name} is open for exactly "
                                          f"{display(line.amount)} {line.currency}"],
                         allocations=[{"invoice": invoice.pk, "number": invoice.number, "amount": str(line.amount)}])
    return Candidate(score=score - 10, kind=SuggestionKind.ASSIGN, customer=customer,
                     reasons=[reason, "no single open invoice of exactly this amount: the payment is recorded for "
                                      "the customer, to allocate later"])


CHOSEN_SCORE = 75  # a customer chosen by staff on the line's page scores as one named by its code


def for_customer(line: StatementLine, customer: Customer, reason: str) -> Candidate:
    """The suggestion for money in from a customer staff chose on the line's page (one query: its open
    invoices), ranked as the matcher ranks a customer it found."""
    open_invoices = list(Invoice.objects.filter(customer=customer, status__in=OPEN_STATUSES)
                         .exclude(type=InvoiceType.TOP_UP).order_by("due_date", "pk"))
    return _for_customer(line, customer, CHOSEN_SCORE, reason, open_invoices)


def amounts(allocations: list[dict]) -> list[tuple[int, Decimal]]:
    return [(int(a["invoice"]), Decimal(a["amount"])) for a in allocations]


__all__ = ["DATE_WINDOW", "HIGH", "Candidate", "Matcher", "amounts", "for_customer", "normal_name"]
