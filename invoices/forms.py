"""Forms of the invoice pages: input checks only (what a field must look like). The rules (minimum
top-up, who may get a purchase invoice, what may be voided) are the services'; their refusals are shown
as the form's errors."""

from __future__ import annotations

from django import forms
from django.conf import settings

from common.forms import DateInput
from customers.forms import CustomerPickerField
from customers.models import PURCHASE_KINDS, TransactionKind


class TopUpInvoiceForm(forms.Form):
    """Seed 003: Name, Billing to, Top-up amount."""

    customer = CustomerPickerField(label="Billing to")
    name = forms.CharField(max_length=200, required=False,
                           help_text="What the invoice is for, as the customer sees it (default: Top-up <amount>).")
    amount = forms.CharField(label="Top-up amount", max_length=40,
                             widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "e.g. 500.00"}),
                             help_text=f"At least {settings.LEDGERDESK_MIN_TOP_UP} in the customer's currency.")
    billing_to = forms.CharField(label="Billing address", required=False, max_length=2000,
                                 widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text="Printed on the invoice (default: the customer's name and billing email).")
    due_date = forms.DateField(required=False, widget=DateInput,
                               help_text=f"Default: {settings.LEDGERDESK_PAYMENT_TERMS_DAYS} days after today.")


class PurchaseInvoiceForm(forms.Form):
    customer = CustomerPickerField(label="Billing to")
    name = forms.CharField(max_length=200, required=False,
                           help_text="What the invoice is for (default: the first line's description).")
    billing_to = forms.CharField(label="Billing address", required=False, max_length=2000,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    due_date = forms.DateField(required=False, widget=DateInput,
                               help_text=f"Default: {settings.LEDGERDESK_PAYMENT_TERMS_DAYS} days after today.")


PURCHASE_KIND_CHOICES = [(k.value, k.label) for k in TransactionKind if k in PURCHASE_KINDS]


class PurchaseLineForm(forms.Form):
    kind = forms.ChoiceField(choices=PURCHASE_KIND_CHOICES, initial=TransactionKind.SERVICE)
    description = forms.CharField(max_length=255, required=False)
    quantity = forms.CharField(max_length=20, required=False, initial="1",
                               widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}))
    unit_price = forms.CharField(max_length=40, required=False,
                                 widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 10}))
    tax_rate = forms.CharField(max_length=10, required=False, initial=settings.LEDGERDESK_TAX_RATE,
                               widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 5}))

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not (data.get("description") or data.get("unit_price"))


PurchaseLineFormSet = forms.formset_factory(PurchaseLineForm, extra=0, min_num=1, max_num=200, validate_max=True)


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=255, label="Reason for voiding",
                             widget=forms.TextInput(attrs={"placeholder": "e.g. Customer paid by card instead"}))
