"""The finance lists' filters (common.filters): payments, credit notes, withdrawals."""

from __future__ import annotations

import django_filters as df
from django.db.models import Q

from common.filters import DateFrom, DateTo, ListFilterSet, SearchFilter, sorts
from common.ids import parse_id
from customers.filters import CurrencyCodeFilter, CustomerFilter

from ..models import PaymentMethod, PaymentStatus


def _customer_text(term: str) -> Q:
    return Q(customer__name__icontains=term) | Q(customer__code__icontains=term)


class PaymentFilterSet(ListFilterSet):
    """A status (deleted payments only when asked for), a method, received dates, a search, a customer."""

    q = SearchFilter("search", "Reference, invoice #, customer, #id")
    customer = CustomerFilter()
    method = df.ChoiceFilter(choices=PaymentMethod.choices, empty_label="All methods")
    status = df.ChoiceFilter(choices=PaymentStatus.choices, empty_label="All statuses")
    currency = CurrencyCodeFilter(field_name="currency")
    received_from = DateFrom("received_date", "Received from")
    received_to = DateTo("received_date", "Received to")

    # Each served by an index read either way: payment_received_idx, payment_amount_idx, the primary key.
    sorts = sorts(received=("received_date", "id"), amount=("amount", "id"), id=("id",))
    default_sort = "-received"

    def search(self, queryset, name, term):
        cond = (Q(reference__icontains=term) | Q(invoice_number__icontains=term) | Q(remark__icontains=term)
                | _customer_text(term))
        payment_id = parse_id(term.lstrip("#"))
        if payment_id:
            cond |= Q(pk=payment_id)
        return queryset.filter(cond)

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.exclude(status=PaymentStatus.DELETED)
        return super().filter_queryset(queryset)


class CreditNoteFilterSet(ListFilterSet):
    q = SearchFilter("search", "CN-…, invoice, reason")
    customer = CustomerFilter()
    kind = df.ChoiceFilter(label="Kind", method="by_kind", empty_label="All",
                           choices=[("invoice", "Against an invoice"), ("account", "Account credit")])
    issued_from = DateFrom("issue_date", "Issued from")
    issued_to = DateTo("issue_date", "Issued to")

    # credit_note_issued_idx, credit_note_amount_idx, the number's unique index
    sorts = sorts(issued=("issue_date", "id"), amount=("amount", "id"), number=("number",))
    default_sort = "-issued"

    def search(self, queryset, name, term):
        return queryset.filter(Q(number__icontains=term) | Q(reason__icontains=term) | _customer_text(term)
                               | Q(invoice__number__icontains=term))

    def by_kind(self, queryset, name, kind):
        return queryset.filter(invoice__isnull=kind == "account")


class WithdrawalFilterSet(ListFilterSet):
    q = SearchFilter("search", "Reference, customer")
    customer = CustomerFilter()
    method = df.ChoiceFilter(choices=PaymentMethod.choices, empty_label="All methods")
    paid_from = DateFrom("paid_date", "Paid from")
    paid_to = DateTo("paid_date", "Paid to")

    sorts = sorts(paid=("paid_date", "id"), amount=("amount", "id"))  # withdrawal_paid_idx, withdrawal_amount_idx
    default_sort = "-paid"

    def search(self, queryset, name, term):
        return queryset.filter(
            Q(reference__icontains=term) | Q(remark__icontains=term) | _customer_text(term)
        )
