"""The customers app's list filters (common.filters): the customer list and a customer's transactions,
reservations, subscriptions and notifications tabs."""

from __future__ import annotations

import django_filters as df
from django.db.models import Exists, OuterRef, Q

from common.filters import CurrencyFilter, DateFrom, DateTo, ListFilterSet, SearchFilter, sorts
from common.ids import parse_id

from .currencies import CurrencyField
from .forms import CustomerPickerField
from .models import (
    AccountType,
    Customer,
    InvoiceSetup,
    NotificationKind,
    Reservation,
    ReservationStatus,
    Subscription,
    TransactionKind,
)
from .selectors import TRANSACTION_VIEWS, customer_search


class CurrencyCodeFilter(df.CharFilter):
    """A currency typed as its ISO 4217 code, in any case ("usd" is USD), with no choices to read: the lists whose
    figures the dashboard links to by currency (issue 23)."""

    field_class = CurrencyField


class CustomerFilter(df.ModelChoiceFilter):
    """One customer, typed as its code with suggestions by code or name (forms.CustomerPicker), or given as its
    pk by a link (?customer=<pk>)."""

    field_class = CustomerPickerField

    def __init__(self, field_name: str = "customer", **kwargs):
        super().__init__(field_name=field_name, queryset=lambda request: Customer.objects.all(), **kwargs)


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


class ReservationFilterSet(ListFilterSet):
    """A customer's reservations: the open ones (what makes up Reserved credits) unless another status, or
    "all", is chosen; a reference or #id; the type; the day reserved."""

    q = SearchFilter("search", "Reference or #id")
    status = df.ChoiceFilter(choices=[*ReservationStatus.choices, ("all", "All")], empty_label=None,
                             method="by_status")
    kind = df.ChoiceFilter(label="Type", choices=TransactionKind.choices, empty_label="All")
    reserved_from = DateFrom("created_at__date", "Reserved from")
    reserved_to = DateTo("created_at__date", "Reserved to")

    def search(self, queryset, name, term):
        cond = Q(reference__icontains=term)
        if reservation_id := parse_id(term.lstrip("#")):
            cond |= Q(pk=reservation_id)
        return queryset.filter(cond)

    def by_status(self, queryset, name, status):
        return queryset if status == "all" else queryset.filter(status=status)

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status=ReservationStatus.OPEN)
        return super().filter_queryset(queryset)


class SubscriptionFilterSet(ListFilterSet):
    q = SearchFilter("search", "Product")
    active = df.ChoiceFilter(label="Status", choices=[("yes", "Active"), ("no", "Ended")], empty_label="All",
                             method="by_active")
    kind = df.ChoiceFilter(label="Type", choices=(), empty_label="All")
    renews_from = DateFrom("renewal_date", "Renews from")
    renews_to = DateTo("renewal_date", "Renews to")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["kind"].extra["choices"] = Subscription._meta.get_field("kind").choices

    def search(self, queryset, name, term):
        return queryset.filter(product__icontains=term)

    def by_active(self, queryset, name, active):
        return queryset.filter(is_active=active == "yes")


class NotificationFilterSet(ListFilterSet):
    q = SearchFilter("search", "Recipient or subject")
    kind = df.ChoiceFilter(label="Type", choices=NotificationKind.choices, empty_label="All")
    status = df.ChoiceFilter(choices=[("sent", "Sent"), ("failed", "Failed"), ("queued", "Queued")],
                             empty_label="All")
    sent_from = DateFrom("sent_at__date", "Sent from")
    sent_to = DateTo("sent_at__date", "Sent to")

    def search(self, queryset, name, term):
        return queryset.filter(Q(recipient__icontains=term) | Q(subject__icontains=term))
