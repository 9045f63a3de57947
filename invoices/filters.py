"""The invoice list's search, filters and sort (common.filters)."""

from __future__ import annotations

import django_filters as df
from django import forms
from django.db.models import Q

from common.filters import DateFrom, DateTo, ListFilterSet, SearchFilter
from customers.filters import CurrencyCodeFilter

from .models import STATUS_FILTER_CHOICES, InvoiceType
from .selectors import DEFAULT_SORT, SORTS


class IdFilter(df.Filter):
    """A row's id in a hidden field (a link from another page: ?customer=<pk>)."""

    field_class = forms.IntegerField

    def __init__(self, field_name: str, **kwargs):
        super().__init__(field_name=field_name, min_value=1, widget=forms.HiddenInput, **kwargs)


class InvoiceFilterSet(ListFilterSet):
    q = SearchFilter("search", "Customer or invoice number", max_length=200)
    type = df.ChoiceFilter(choices=InvoiceType.choices, empty_label="All types")
    status = df.ChoiceFilter(choices=STATUS_FILTER_CHOICES, empty_label="All statuses")
    customer = IdFilter("customer_id")
    currency = CurrencyCodeFilter(field_name="currency")
    issued_from = DateFrom("issue_date", "Issued from")
    issued_to = DateTo("issue_date", "Issued to")

    sorts = SORTS
    default_sort = DEFAULT_SORT

    def search(self, queryset, name, q):
        return queryset.filter(Q(number__icontains=q) | Q(customer__name__icontains=q) | Q(customer__code__iexact=q))
