"""Forms: input types only (text to Decimal, dates, choices). The rules live in the services; a refusal
comes back as a domain error the view adds to the form."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.urls import reverse

from common.ids import parse_id

from .currencies import CurrencyField
from .models import (
    PURCHASE_KINDS,
    AccountType,
    Customer,
    InvoiceSetup,
    MasterWallet,
    TransactionKind,
)
from .money import AmountField, display


class CustomerForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(max_length=32, help_text="Short unique code, e.g. ACME (letters, digits, - and _).")
    billing_email = forms.EmailField()
    currency = CurrencyField(initial="SGD", help_text="ISO 4217, e.g. SGD. Fixed once the account "
                                                                       "has transactions.")
    account_type = forms.ChoiceField(choices=AccountType.choices, label="Prepaid or postpaid")
    invoice_setup = forms.ChoiceField(choices=InvoiceSetup.choices)
    credit_limit = AmountField(allow_zero=True, initial="0", help_text="Postpaid only: how much may be borrowed "
                                                                         "against unbilled usage.")
    show_invoices_tab = forms.BooleanField(required=False, initial=True, label="Portal: show the Invoices tab")
    reason = forms.CharField(required=False, max_length=255, help_text="Why (kept in the audit trail).")


class AdjustmentForm(forms.Form):
    reverses = forms.IntegerField(required=False, min_value=1, label="Reverse transaction #",
                                  help_text="Posts the exact opposite of that charge. Leave empty for a free "
                                            "adjustment.")
    amount = AmountField(required=False, allow_negative=True, help_text="+ in the customer's favour (CR), − owed (DR). "
                                                                        "Not needed for a reversal.")
    reason = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def clean(self):
        data = super().clean()
        if not data.get("reverses") and data.get("amount") is None and "amount" not in self.errors:
            self.add_error("amount", "Give an amount, or the number of the transaction to reverse.")
        return data


class TransferForm(forms.Form):
    amount = AmountField()
    wallet = forms.ModelChoiceField(queryset=MasterWallet.objects.none(), required=True, empty_label=None,
                                    label="From master wallet")
    reference = forms.CharField(required=False, max_length=120)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["wallet"].queryset = MasterWallet.objects.filter(currency=currency).order_by("pk")
        self.fields["wallet"].label_from_instance = lambda w: f"{w.name} ({display(w.balance)} {w.currency})"


class SubscriptionForm(forms.Form):
    product = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=[(k.value, k.label) for k in TransactionKind if k in PURCHASE_KINDS])
    quantity = forms.IntegerField(min_value=1, initial=1)
    period_months = forms.IntegerField(min_value=1, initial=1, label="Renews every (months)")
    renewal_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    renewal_price = AmountField(allow_zero=True, help_text="What the customer pays per unit at renewal.")
    renewal_cost = AmountField(allow_zero=True, help_text="What it costs us per unit at renewal.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")


class PortalUserForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput(render_value=False), min_length=1,
                               help_text="At least 8 characters, not a common password.")


class WalletCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    currency = CurrencyField(initial="SGD")


class WalletFundForm(forms.Form):
    amount = AmountField()
    reference = forms.CharField(max_length=120, help_text="Where the money comes from, e.g. a bank transfer reference.")


class CustomerPicker(forms.TextInput):
    """The one customer picker (issue 23): a text input for the customer's code that suggests customers by code
    or name as you type (htmx asks customers:options for a <datalist>; selectors.customer_options, one GIN index
    lookup, at most 20 rows, whatever the number of customers). Without JavaScript a typed code still works.
    `options_query`: extra parameters of the suggestions (the Assign form's currency)."""

    template_name = "customers/widgets/customer_picker.html"

    def __init__(self, attrs=None, options_query: dict | None = None):
        super().__init__({"autocomplete": "off", "placeholder": "Code or name", "spellcheck": "false", **(attrs or {})})
        self.options_query = options_query or {}

    def format_value(self, value):
        """A customer shows as its code; a pk (a link such as ?customer=<pk>) as the code of that customer."""
        if isinstance(value, Customer):
            return value.code
        if parse_id(value) and not Customer.objects.filter(code__iexact=str(value)).exists():
            return Customer.objects.filter(pk=parse_id(value)).values_list("code", flat=True).first() or value
        return super().format_value(value)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["options_url"] = (f"{reverse('customers:options')}?"
                                            f"{urlencode({'field': name, **self.options_query})}")
        return context


class CustomerPickerField(forms.ModelChoiceField):
    """A customer of `queryset`, typed as its code (in any case) or, for links, its pk."""

    widget = CustomerPicker

    def __init__(self, queryset=None, **kwargs):
        kwargs.setdefault("empty_label", None)
        super().__init__(Customer.objects.all() if queryset is None else queryset, **kwargs)

    def prepare_value(self, value):
        return value.code if isinstance(value, Customer) else value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip().split(" ", 1)[0]
        found = self.queryset.filter(code__iexact=text).first()
        if found is None and parse_id(text):
            found = self.queryset.filter(pk=parse_id(text)).first()
        if found is None:
            raise forms.ValidationError(f"There is no customer with the code {text}.", code="invalid_choice")
        return found

    def has_changed(self, initial, data):
        return str(self.prepare_value(initial) or "") != str(data or "")
