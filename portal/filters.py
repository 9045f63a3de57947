"""The portal lists' filters (common.filters): invoices, transactions, notifications, the audit trail and
the payment history."""

from __future__ import annotations

import django_filters as df
from django.db.models import Q

from common.filters import DateFrom, DateTo, ListFilterSet, SearchFilter
from customers.models import NotificationKind, TransactionKind
from finance.cards.selectors import PaymentKind
from invoices.models import STATUS_FILTER_CHOICES, InvoiceStatus, InvoiceType

from . import audit_visibility


class InvoiceFilterSet(ListFilterSet):
    q = SearchFilter("search", "Number or name", max_length=None)
    type = df.ChoiceFilter(choices=InvoiceType.choices, empty_label="All types")
    status = df.ChoiceFilter(choices=[(v, label) for v, label in STATUS_FILTER_CHOICES if v != InvoiceStatus.DRAFT],
                             empty_label="All statuses")

    def search(self, queryset, name, q):
        return queryset.filter(Q(number__icontains=q) | Q(name__icontains=q))


class TransactionFilterSet(ListFilterSet):
    kind = df.ChoiceFilter(label="Type", choices=TransactionKind.choices, empty_label="All types")


class NotificationFilterSet(ListFilterSet):
    kind = df.ChoiceFilter(label="Type", choices=NotificationKind.choices, empty_label="All types")


class AuditFilterSet(ListFilterSet):
    """The search looks at the action's label and the object's stored text (selectors.audit_trail)."""

    q = SearchFilter("search", "What or object", max_length=None)

    def search(self, queryset, name, q):
        q = q[:100]
        return queryset.filter(Q(action__in=audit_visibility.actions_labelled(q)) | Q(object_repr__icontains=q))


class PaymentFilterSet(ListFilterSet):
    """The payment history's filters. Its rows are a UNION of three queries (finance.cards.selectors
    .customer_payments), which filters each part by these values."""

    kind = df.ChoiceFilter(label="Type", choices=PaymentKind.CHOICES, empty_label="All types")
    date_from = DateFrom("p_at", "From", lookup_expr="date__gte")
    date_to = DateTo("p_at", "To", lookup_expr="date__lte")
