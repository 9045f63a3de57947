"""The invoice list's search, filters and sort (common.filters)."""

from __future__ import annotations

import datetime as dt
import re

import django_filters as df
from django.db.models import Q

from common.filters import DateFrom, DateTo, ListFilterSet, SearchFilter
from common.ids import parse_id
from customers.filters import CurrencyCodeFilter, CustomerFilter

from .models import STATUS_FILTER_CHOICES, BillingRunTrigger, InvoiceType
from .selectors import DEFAULT_SORT, RUN_DEFAULT_SORT, RUN_SORTS, SORTS


class InvoiceFilterSet(ListFilterSet):
    q = SearchFilter("search", "Customer or invoice number", max_length=200)
    customer = CustomerFilter()
    type = df.ChoiceFilter(choices=InvoiceType.choices, empty_label="All types")
    status = df.ChoiceFilter(choices=STATUS_FILTER_CHOICES, empty_label="All statuses")
    currency = CurrencyCodeFilter(field_name="currency")
    issued_from = DateFrom("issue_date", "Issued from")
    issued_to = DateTo("issue_date", "Issued to")

    sorts = SORTS
    default_sort = DEFAULT_SORT

    def search(self, queryset, name, q):
        return queryset.filter(Q(number__icontains=q) | Q(customer__name__icontains=q) | Q(customer__code__iexact=q))


class BillingRunFilterSet(ListFilterSet):
    """The billing runs list: search by run number, month (YYYY-MM) or who started it; state; trigger; dates."""

    q = SearchFilter("search", "Run #, month (2026-11) or started by", max_length=80)
    state = df.ChoiceFilter(choices=[("running", "Running"), ("finished", "Finished"),
                                     ("failures", "With open failures")], empty_label="All runs", method="by_state")
    trigger = df.ChoiceFilter(choices=BillingRunTrigger.choices, empty_label="Any trigger")
    started_from = DateFrom("started_at__date", "Started from")
    started_to = DateTo("started_at__date", "Started to")

    sorts = RUN_SORTS
    default_sort = RUN_DEFAULT_SORT

    def search(self, queryset, name, q):
        text = q.strip().lstrip("#")
        match = Q(started_by__icontains=text)
        if run_id := parse_id(text):
            match |= Q(pk=run_id)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}", text) and 1 <= int(text[5:]) <= 12:
            match |= Q(period=dt.date(int(text[:4]), int(text[5:]), 1))
        return queryset.filter(match)

    def by_state(self, queryset, name, value):
        if value == "running":
            return queryset.filter(finished_at__isnull=True)
        if value == "finished":
            return queryset.filter(finished_at__isnull=False)
        return queryset.filter(failures_open__gt=0)


class BillingFailureFilterSet(ListFilterSet):
    """A run's failed customers: search by customer; state (retrying, given up, billed since)."""

    q = SearchFilter("search", "Customer name or code", max_length=120)
    state = df.ChoiceFilter(choices=[("retrying", "Retrying"), ("given_up", "Retries used up"),
                                     ("resolved", "Billed since")], empty_label="All failures", method="by_state")

    def search(self, queryset, name, q):
        return queryset.filter(Q(customer__name__icontains=q) | Q(customer__code__iexact=q))

    def by_state(self, queryset, name, value):
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset.filter(resolved_at__isnull=True, next_attempt_at__isnull=value == "given_up")
