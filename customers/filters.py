"""The customers app's list filters (common.filters): the customer list and a customer's transactions and
notifications tabs."""

from __future__ import annotations

import django_filters as df
from django.db.models import Exists, OuterRef

from common.filters import CurrencyFilter, ListFilterSet, SearchFilter, sorts

from .currencies import CurrencyField
from .models import (
    AccountType,
    InvoiceSetup,
    NotificationKind,
    Reservation,
    ReservationStatus,
    TransactionKind,
)
from .selectors import TRANSACTION_VIEWS, customer_search


class CurrencyCodeFilter(df.CharFilter):
    """A currency typed as its ISO 4217 code, in any case ("usd" is USD), with no choices to read: the lists whose
    figures the dashboard links to by currency (issue 23)."""

    field_class = CurrencyField


class CustomerFilterSet(ListFilterSet):
    """`currencies`: the currency choices (read once by the view, selectors.currencies)."""

    q = SearchFilter("search", "Name or code", attrs={"autocomplete": "off"})
    account_type = df.ChoiceFilter(label="Prepaid / postpaid", choices=AccountType.choices, empty_label="All")
    invoice_setup = df.ChoiceFilter(label="Invoice setup", choices=InvoiceSetup.choices, empty_label="All")
    currency = CurrencyFilter(choices=(), empty_label="All")
    reservations = df.ChoiceFilter(label="Reservations", choices=[(ReservationStatus.OPEN.value, "In flight")],
                                   empty_label="All", method="with_reservations")

    sorts = sorts(name=("name", "id"))  # customer_name_idx, read either way
    default_sort = "name"

    def __init__(self, data=None, queryset=None, *, currencies: list[str] = (), **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.filters["currency"].extra["choices"] = [(c, c) for c in currencies]

    def search(self, queryset, name, q):
        return customer_search(queryset, q)

    def with_reservations(self, queryset, name, value):
        """Customers with a reservation in flight (reservation_open_expiry_idx holds only the open ones)."""
        return queryset.filter(Exists(Reservation.objects.filter(customer_id=OuterRef("pk"),
                                                                 status=ReservationStatus.OPEN)))


class TransactionFilterSet(ListFilterSet):
    kind = df.ChoiceFilter(label="Type", choices=TransactionKind.choices, empty_label="All")
    view = df.ChoiceFilter(label="Figure", method="by_view", empty_label="All transactions",
                           choices=[(k, label) for k, (label, _) in TRANSACTION_VIEWS.items()])

    def by_view(self, queryset, name, view):
        return queryset.filter(TRANSACTION_VIEWS[view][1])


class NotificationFilterSet(ListFilterSet):
    kind = df.ChoiceFilter(label="Type", choices=NotificationKind.choices, empty_label="All")
    status = df.ChoiceFilter(choices=[("sent", "Sent"), ("failed", "Failed"), ("queued", "Queued")],
                             empty_label="All")
