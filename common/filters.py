"""What every list's filters share. A list declares its filters as a django-filter FilterSet over the
queryset its selector gives (`<app>/filters.py`); `common.lists.list_page` pages, exports and renders the
result. The base adds:

- always bound: an empty query string is a bound, empty (so valid) form, so a list filters the same way
  whatever was chosen, and a default that is not "every row" (payments hide deleted ones) is a filter too;
- an invalid field shows its error and is left out: the list shows what the other filters match;
- a date range: a `DateFrom` and a `DateTo` on the same column are a range, checked by
  `common.forms.check_date_range`: an end before the start is an error on the end field, and the list is
  empty (no row is in a range that ends before it starts: showing the rows of half of it would answer a
  question nobody asked). A date that is not a date is an invalid field like any other.

A list template shows the errors inside the table it swaps (components/_filter_errors.html), so a filter
changed by htmx shows its error too."""

from __future__ import annotations

import django_filters as df
from django import forms
from django.http import QueryDict
from django_filters.fields import ChoiceField, ModelChoiceField, ModelChoiceIterator

from common.forms import REVERSED_RANGE, DateInput, check_date_range


class DateFrom(df.DateFilter):
    """The first day of a range on `field_name` (inclusive)."""

    def __init__(self, field_name: str, label: str, lookup_expr: str = "gte", **kwargs):
        super().__init__(field_name=field_name, lookup_expr=lookup_expr, label=label, widget=DateInput, **kwargs)


class DateTo(df.DateFilter):
    """The last day of a range on `field_name` (inclusive)."""

    def __init__(self, field_name: str, label: str, lookup_expr: str = "lte", **kwargs):
        super().__init__(field_name=field_name, lookup_expr=lookup_expr, label=label, widget=DateInput, **kwargs)


class SearchFilter(df.CharFilter):
    """The list's search box: `method` names the FilterSet's method that matches the text (stripped by the
    form field; an empty search is no filter)."""

    def __init__(self, method: str, placeholder: str, label: str = "Search", max_length: int = 120, **kwargs):
        super().__init__(method=method, label=label, max_length=max_length, widget=forms.TextInput(
            attrs={"type": "search", "placeholder": placeholder, **kwargs.pop("attrs", {})}), **kwargs)


class _ListedChoices(ModelChoiceIterator):
    """The choices of a ModelChoiceField read by one plain SELECT. Django reads them through `.iterator()`, on
    PostgreSQL a server-side cursor: DECLARE, FETCH and CLOSE, three round trips for the handful of rows a filter
    offers (the reconcile inbox's bank accounts: 0.1-0.3 ms less of its page, A/B in one process, load 2-4)."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        if self.field.null_label is not None:
            yield (self.field.null_value, self.field.null_label)
        for obj in self.queryset:
            yield self.choice(obj)


class _ListedModelChoiceField(ModelChoiceField):
    iterator = _ListedChoices


class FewRowsChoiceFilter(df.ModelChoiceFilter):
    """A ModelChoiceFilter over a handful of rows (a few bank accounts), read as one SELECT (_ListedChoices)."""

    field_class = _ListedModelChoiceField


class _CurrencyField(ChoiceField):
    def to_python(self, value):
        return super().to_python(value).upper()


class CurrencyFilter(df.ChoiceFilter):
    """A currency code in any case ("usd" is USD)."""

    field_class = _CurrencyField


class FilterForm(forms.Form):
    """The form of a ListFilterSet: the date ranges its FilterSet found are checked here."""

    date_ranges: tuple[tuple[str, str], ...] = ()

    def clean(self):
        data = super().clean()
        for start, end in self.date_ranges:
            check_date_range(self, start, end)
        return data


def sorts(**columns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """A list's `sorts` from each sort key's ascending order: "amount" = ("amount", "id") gives "amount" and
    "-amount" = ("-amount", "-id"), both served by one index on (amount, id), read forwards or backwards."""
    both = {}
    for key, order in columns.items():
        both[key] = order
        both[f"-{key}"] = tuple(field[1:] if field.startswith("-") else f"-{field}" for field in order)
    return both


class ListFilterSet(df.FilterSet):
    """`sorts`: the orders a list offers, by the `sort` parameter's value ("-name" the descending one), each
    an order_by; without one (or an unknown one) the selector's own order, which `default_sort` names."""

    sorts: dict[str, tuple[str, ...]] = {}
    default_sort = ""

    sort = df.ChoiceFilter(method="order_rows", widget=forms.HiddenInput, choices=())

    class Meta:
        form = FilterForm

    def __init__(self, data: QueryDict | dict | None = None, queryset=None, *, currencies: list[str] | None = None,
                 **kwargs):
        """`currencies`: the choices of the list's `currency` filter (a CurrencyFilter), read by the view."""
        super().__init__(QueryDict() if data is None else data, queryset, **kwargs)
        if currencies is not None:
            self.filters["currency"].extra["choices"] = [(c, c) for c in currencies]
        if self.sorts:
            self.filters["sort"].extra["choices"] = [(key, key) for key in self.sorts]
        else:
            del self.filters["sort"]

    @property
    def range_reversed(self) -> bool:
        """A date range of the form ends before it starts (its rows: none)."""
        self.errors  # noqa: B018 - validates the form
        return any(self.form.has_error(end, REVERSED_RANGE) for _, end in self.date_ranges())

    def filter_queryset(self, queryset):
        if self.range_reversed:
            return queryset.none()
        return super().filter_queryset(queryset)

    def order_rows(self, queryset, name, value):
        return queryset.order_by(*self.sorts[value])

    @property
    def current_sort(self) -> str:
        return self.values.get("sort") or self.default_sort

    @classmethod
    def date_ranges(cls) -> tuple[tuple[str, str], ...]:
        """(from, to) filter names of each DateFrom with a DateTo on the same column."""
        ends = {f.field_name: name for name, f in cls.base_filters.items() if isinstance(f, DateTo)}
        return tuple((name, ends[f.field_name]) for name, f in cls.base_filters.items()
                     if isinstance(f, DateFrom) and f.field_name in ends)

    def get_form_class(self):
        form_class = super().get_form_class()
        form_class.date_ranges = self.date_ranges()
        return form_class

    @property
    def values(self) -> dict:
        """The valid filters' values (what the list is filtered by)."""
        self.errors  # noqa: B018 - validates the form
        return getattr(self.form, "cleaned_data", {})
