"""The Audit page's filters (common.filters). Every field is optional; an invalid one (a bad date) shows
its error and is left out of the filtering, so the page always lists something. The matching rules are
audit.selectors' (audit_events uses the same ones for the other pages' histories)."""

from __future__ import annotations

import django_filters as df
from django import forms

from common.filters import DateFrom, DateTo, ListFilterSet, SearchFilter, sorts

from .actors import ActorKind
from .models import AuditApp
from .selectors import action_matching, customer_matching, occurred_from, occurred_to, search_matching


def _text(label: str, placeholder: str, max_length: int, method: str) -> df.CharFilter:
    # A filter with a method has no model field to name it: without a label django-filter shows "[invalid name]".
    return df.CharFilter(label=label, method=method, max_length=max_length,
                         widget=forms.TextInput(attrs={"placeholder": placeholder}))


class AuditFilterSet(ListFilterSet):
    q = SearchFilter("search", "Actor, object, reason…", max_length=200)
    app = df.ChoiceFilter(choices=AuditApp.choices, empty_label="All apps")
    customer = _text("Customer", "Id, name or code", 200, "by_customer")
    actor = _text("Actor", "Username or job", 150, "by_actor")
    actor_kind = df.ChoiceFilter(label="Actor kind", choices=ActorKind.CHOICES, empty_label="Any")
    action = _text("Action", "e.g. finance.payment", 80, "by_action")
    date_from = DateFrom("occurred_at", "From", method="by_date_from")
    date_to = DateTo("occurred_at", "To", method="by_date_to")

    # the occurred_at index, read either way (without a sort: newest id first, audit_events' order)
    sorts = sorts(time=("occurred_at", "id"))

    def search(self, queryset, name, value):
        return queryset.filter(search_matching(value))

    def by_customer(self, queryset, name, value):
        return queryset.filter(customer_matching(value))

    def by_actor(self, queryset, name, value):
        return queryset.filter(actor_label=value)

    def by_action(self, queryset, name, value):
        return queryset.filter(action_matching(value))

    def by_date_from(self, queryset, name, value):
        return queryset.filter(occurred_from(value))

    def by_date_to(self, queryset, name, value):
        return queryset.filter(occurred_to(value))
