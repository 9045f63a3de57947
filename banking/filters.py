"""The banking lists' filters (common.filters): bank accounts, statements, the reconcile inbox.

No list offers a sort: each keeps its selector's order, the one an index serves (the inbox's default order:
statement_line_open_idx; a state's: statement_line_inbox_idx). Bank accounts are a handful of rows; statements
are indexed by account only; the inbox's other orders would sort every open line for each page."""

from __future__ import annotations

import django_filters as df
from django.db.models import Q

from common.filters import CurrencyFilter, DateFrom, DateTo, FewRowsChoiceFilter, ListFilterSet, SearchFilter
from customers.filters import CurrencyCodeFilter

from .matching import HIGH
from .models import BankAccount, LineState, StatementFormat

# The inbox's default `state`: the lines still to reconcile (statement_line_open_idx's condition).
INBOX = "inbox"
OPEN_STATES = [LineState.NEW, LineState.SUGGESTED]


def _accounts():
    return BankAccount.objects.order_by("name", "id")


class AccountFilter(FewRowsChoiceFilter):
    def __init__(self, **kwargs):
        super().__init__(field_name="account", queryset=lambda request: _accounts(), empty_label="All accounts",
                         **kwargs)


class BankAccountFilterSet(ListFilterSet):
    """`currencies`: the currency choices (the accounts' currencies, read once by the view)."""

    q = SearchFilter("search", "Name, code, IBAN")
    currency = CurrencyFilter(choices=(), empty_label="All currencies")

    def search(self, queryset, name, term):
        return queryset.filter(Q(name__icontains=term) | Q(code__icontains=term)
                               | Q(iban__icontains=term.replace(" ", "")))


class StatementFilterSet(ListFilterSet):
    q = SearchFilter("search", "File name, statement id")
    account = AccountFilter()
    # Not "format": ?format=csv asks every list for its CSV export.
    file_format = df.ChoiceFilter(field_name="format", label="Format", choices=StatementFormat.choices,
                                  empty_label="All formats")
    imported_from = DateFrom("imported_at", "Imported from", lookup_expr="date__gte")
    imported_to = DateTo("imported_at", "Imported to", lookup_expr="date__lte")

    def search(self, queryset, name, term):
        return queryset.filter(Q(file_name__icontains=term) | Q(statement_ref__icontains=term))


class LineFilterSet(ListFilterSet):
    """The reconcile inbox. `state` "inbox" (also when not given, or not a state) is the lines still to
    reconcile; "all" every line."""

    q = SearchFilter("search", "Payer, reference, remittance text")
    state = df.ChoiceFilter(method="by_state", empty_label=None,
                            choices=[(INBOX, "To reconcile"), *LineState.choices, ("all", "All states")])
    account = AccountFilter()
    currency = CurrencyCodeFilter(field_name="currency")  # the dashboard's figures link by currency
    direction = df.ChoiceFilter(label="Direction", method="by_direction", empty_label="In and out",
                                choices=[("in", "Money in"), ("out", "Money out")])
    confidence = df.ChoiceFilter(label="Suggestion", method="by_confidence", empty_label="Any suggestion",
                                 choices=[("high", "High confidence"), ("none", "No suggestion")])
    booked_from = DateFrom("booking_date", "Booked from")
    booked_to = DateTo("booking_date", "Booked to")

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("state"):
            queryset = self.by_state(queryset, "state", INBOX)
        return super().filter_queryset(queryset)

    def search(self, queryset, name, term):
        return queryset.filter(Q(payer_name__icontains=term) | Q(reference__icontains=term)
                               | Q(bank_reference__icontains=term) | Q(remittance_text__icontains=term))

    def by_state(self, queryset, name, state):
        if state == INBOX:
            return queryset.filter(state__in=OPEN_STATES)
        if state == "all":
            return queryset
        return queryset.filter(state=state)

    def by_direction(self, queryset, name, direction):
        return queryset.filter(amount__gt=0) if direction == "in" else queryset.filter(amount__lt=0)

    def by_confidence(self, queryset, name, confidence):
        return queryset.filter(best_score__gte=HIGH) if confidence == "high" else queryset.filter(best_score=0)
