"""The finance lists' filters (common.filters): payments, credit notes, withdrawals."""

from __future__ import annotations

import django_filters as df
from django.db.models import F, Q

from common.filters import CurrencyFilter, DateFrom, DateTo, ListFilterSet, SearchFilter, sorts
from common.forms import DateInput
from common.ids import parse_id
from common.times import local_time
from customers.filters import CurrencyCodeFilter

from .forms import CustomerChoiceField, customer_choices
from .models import PaymentMethod, PaymentStatus, TopUpDecision, TopUpMethod
from .selectors_settings import AUTO_FILTERS


class CustomerFilter(df.ModelChoiceFilter):
    """One customer, picked from a <select> or, past forms.SELECT_LIMIT customers, typed as its code."""

    field_class = CustomerChoiceField

    def __init__(self, **kwargs):
        super().__init__(field_name="customer", queryset=lambda request: customer_choices(),
                         empty_label="All customers", **kwargs)


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
        return queryset.filter(Q(reference__icontains=term) | Q(remark__icontains=term) | _customer_text(term))


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

    def __init__(self, data=None, queryset=None, *, currencies: list[str] = (), **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.filters["currency"].extra["choices"] = [(c, c) for c in currencies]

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

    def __init__(self, data=None, queryset=None, *, currencies: list[str] = (), **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.filters["currency"].extra["choices"] = [(c, c) for c in currencies]

    def search(self, queryset, name, term):
        return queryset.filter(_name_or_code("customer__", term))
