"""Forms of the invoice pages: input checks only (what a field must look like). The rules (minimum
top-up, who may get a purchase invoice, what may be voided) are the services'; their refusals are shown
as the form's errors."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.urls import reverse

from common.forms import DateInput
from customers.models import PURCHASE_KINDS, Customer, TransactionKind


class CustomerCodeField(forms.CharField):
    """The customer billed, typed as its code (the page suggests codes as you type: a select of every
    customer would not scale to 100,000 of them)."""

    def clean(self, value):
        code = super().clean(value)
        if not code:
            return None
        code = code.strip().split(" ", 1)[0]
        customer = Customer.objects.filter(code__iexact=code).first()
        if customer is None:
            raise forms.ValidationError(f"There is no customer with code {code}.")
        return customer


def customer_picker_attrs():
    return {"list": "customer-options", "autocomplete": "off", "placeholder": "Customer code or name",
            "hx-trigger": "input changed delay:250ms", "hx-target": "#customer-options", "hx-swap": "innerHTML",
            "hx-sync": "this:queue last"}


class CustomerPickerForm(forms.Form):
    """A form whose `customer` input (a CustomerCodeField with customer_picker_attrs, rendered by
    invoices/_customer_picker.html) suggests customers by code or name as you type (invoices:customer-options).
    Also the reconcile inbox's "Record for a customer" (banking.forms.LineCustomerForm)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].widget.attrs["hx-get"] = reverse("invoices:customer-options")


class TopUpInvoiceForm(CustomerPickerForm):
    """Seed 003: Name, Billing to, Top-up amount."""

    customer = CustomerCodeField(label="Billing to", max_length=100, widget=forms.TextInput(attrs=customer_picker_attrs()))
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


class PurchaseInvoiceForm(CustomerPickerForm):
    customer = CustomerCodeField(label="Billing to", max_length=100, widget=forms.TextInput(attrs=customer_picker_attrs()))
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
