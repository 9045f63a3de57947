"""Forms of the banking pages: the shape of the input; the rules are the services'."""

from __future__ import annotations

from django import forms

from customers.currencies import CurrencyField
from customers.forms import CustomerPickerField

from .models import BankAccount


class BankAccountForm(forms.Form):
    name = forms.CharField(max_length=120)
    code = forms.SlugField(max_length=32, help_text="Letters, digits and dashes; used by manage.py import_statement.")
    iban = forms.CharField(max_length=34, label="IBAN or account number")
    bic = forms.CharField(max_length=11, required=False, label="BIC")
    currency = CurrencyField()
    csv_delimiter = forms.ChoiceField(label="CSV delimiter", initial=",",
                                      choices=[(",", "Comma ,"), (";", "Semicolon ;"), ("\t", "Tab"), ("|", "Bar |")])
    csv_date_column = forms.CharField(max_length=64, required=False, label="Date column")
    csv_date_format = forms.CharField(max_length=32, required=False, initial="%Y-%m-%d", label="Date format",
                                      help_text="%Y-%m-%d, %d/%m/%Y, %d.%m.%Y ...")
    csv_value_date_column = forms.CharField(max_length=64, required=False, label="Value date column")
    csv_amount_column = forms.CharField(max_length=64, required=False, label="Amount column",
                                        help_text="A signed amount (money out negative); or the two columns below.")
    csv_debit_column = forms.CharField(max_length=64, required=False, label="Debit column")
    csv_credit_column = forms.CharField(max_length=64, required=False, label="Credit column")
    csv_decimal_comma = forms.BooleanField(required=False, label="Decimal comma (1.234,56)")
    csv_reference_column = forms.CharField(max_length=64, required=False, label="Reference column")
    csv_payer_column = forms.CharField(max_length=64, required=False, label="Payer column")
    csv_payer_account_column = forms.CharField(max_length=64, required=False, label="Payer account column")
    csv_remittance_column = forms.CharField(max_length=64, required=False, label="Remittance text column")

    @classmethod
    def initial_for(cls, account: BankAccount) -> dict:
        return {name: getattr(account, name) for name in cls.base_fields}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe): each is checked as a FileField would."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data] if data else single(None, initial)
        return [single(data, initial)]


class StatementUploadForm(forms.Form):
    account = forms.ModelChoiceField(queryset=BankAccount.objects.order_by("name", "id"), empty_label=None,
                                     label="Bank account")
    files = MultipleFileField(label="Statement files", help_text="camt.053 (XML), MT940 or CSV; one or several.")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False)


class LineCustomerForm(forms.Form):
    """The customer a line of money in came from, typed as its code with the one customer picker (by code or
    name as you type; a select of 100,000 customers would not do)."""

    customer = CustomerPickerField(label="Customer")
