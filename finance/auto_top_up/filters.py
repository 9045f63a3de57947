"""The auto top-up lists' filters (common.filters): organizations (payment settings), the runs' decisions and
the dry run."""

from __future__ import annotations

import django_filters as df
from django.db.models import F, Q

from common.filters import CurrencyFilter, ListFilterSet, SearchFilter, sorts
from common.forms import DateInput
from common.times import local_time
from customers.filters import CurrencyCodeFilter

from ..models import TopUpDecision, TopUpMethod
from .selectors import AUTO_FILTERS


def _name_or_code(prefix: str, term: str) -> Q:
    return Q(**{f"{prefix}name__icontains": term}) | Q(**{f"{prefix}code__icontains": term})


class SettingsFilterSet(ListFilterSet):
    """Organization management (payment settings). `currencies`: the currency choices (read by the view)."""

    q = SearchFilter("search", "Organization name or code")
    method = df.ChoiceFilter(label="Payment method", choices=TopUpMethod.choices, empty_label="All methods",
                             method="by_method")
    auto = df.ChoiceFilter(label="Auto top-up", choices=list(AUTO_FILTERS.items()), empty_label="Any",
                           method="by_auto")
    currency = CurrencyFilter(choices=(), empty_label="All currencies")

    sorts = sorts(name=("name", "id"))  # customer_name_idx, read either way
    default_sort = "name"

    def search(self, queryset, name, term):
        return queryset.filter(_name_or_code("", term))

    def by_method(self, queryset, name, method):
        if method == TopUpMethod.CHEQUE_TT:  # the default for a customer without settings yet
            return queryset.filter(Q(payment_settings__method=method) | Q(payment_settings__isnull=True))
        return queryset.filter(payment_settings__method=method)

    def by_auto(self, queryset, name, auto):
        if auto == "on":
            return queryset.filter(payment_settings__auto_top_up_enabled=True)
        if auto == "off":
            return queryset.filter(Q(payment_settings__auto_top_up_enabled=False) | Q(payment_settings__isnull=True))
        return queryset.filter(payment_settings__auto_top_up_enabled=True,
                               usable_credits__lte=F("payment_settings__limit_threshold"))


class RunsFilterSet(ListFilterSet):
    """The auto top-up runs page: the day's decisions (the view reads the day, selectors.decision_list),
    `runs`: that day's runs, the choices of `run`."""

    date = df.DateFilter(field_name="run_date", label="Run date", widget=DateInput)
    run = df.TypedChoiceFilter(field_name="run_id", label="Run", coerce=int, empty_value=None, choices=())
    decision = df.ChoiceFilter(label="Decision", empty_label="All decisions", method="by_decision",
                               choices=[("skipped", "Skipped (any reason)"), *TopUpDecision.choices])
    currency = CurrencyCodeFilter(field_name="customer__currency")
    q = SearchFilter("search", "Organization name or code")

    def __init__(self, data=None, queryset=None, *, runs=(), **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.filters["run"].extra["choices"] = [
            ("", "All runs of the day"),
            *((r.pk, f"#{r.pk} {r.get_trigger_display().lower()}, {local_time(r.since)}")
              for r in runs)]

    def by_decision(self, queryset, name, decision):
        if decision == "skipped":
            return queryset.filter(decision__startswith="skipped_")
        return queryset.filter(decision=decision)

    def search(self, queryset, name, term):
        return queryset.filter(_name_or_code("customer__", term))


class DryRunFilterSet(ListFilterSet):
    """What today's run would do (selectors_settings.dry_run_rows). `currencies`: the currency choices."""

    q = SearchFilter("search", "Organization name or code")
    method = df.ChoiceFilter(label="Payment method", choices=TopUpMethod.choices, empty_label="All methods")
    currency = CurrencyFilter(field_name="customer__currency", choices=(), empty_label="All currencies")

    def search(self, queryset, name, term):
        return queryset.filter(_name_or_code("customer__", term))
