"""Forms for the finance pages: they check the shape of the input (a date is a date, an amount is an
exact amount); the rules live in the services, whose refusals the views add as form errors."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils import timezone

from common.forms import DateInput
from customers.currencies import CurrencyField
from customers.forms import CustomerPickerField
from customers.models import Customer
from customers.money import AmountField

from ..models import PaymentMethod


def customer_choices():
    return Customer.objects.only("id", "name", "code", "currency")


class CustomerForm(forms.Form):
    """A form with a `customer` field whose choices are read when the form is built (not when the module is
    imported), and whose `today_field`, if named, starts at today's date."""

    today_field = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customer_choices()
        if self.today_field and not self.is_bound and self.today_field not in self.initial:
            self.initial[self.today_field] = timezone.localdate()


class PaymentForm(CustomerForm):
    customer = CustomerPickerField(queryset=customer_choices(), required=False,
                                   help_text="Code or name; may be left empty: assign the payment later from its page.")
    amount = AmountField(label="Amount")
    currency = CurrencyField(required=False, help_text="The customer's currency when a customer is chosen.")
    received_date = forms.DateField(label="Received date", widget=DateInput)
    method = forms.ChoiceField(choices=PaymentMethod.choices, initial=PaymentMethod.BANK_TRANSFER)
    reference = forms.CharField(max_length=120, required=False)
    invoice_number = forms.CharField(max_length=64, required=False, label="Invoice #",
                                     help_text="The invoice number the payer quoted, if any.")
    remark = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    today_field = "received_date"

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["customer"]  # assignment has its own action (5 changes at most)
        chosen = None if editing else self.chosen_customer()
        if chosen is not None:
            # The currency follows the customer (a payment is in its customer's currency; payment_record
            # refuses another one): shown, read-only, unless the form came back with another one to correct.
            currency = self.fields["currency"]
            currency.help_text = f"{chosen.name} pays in {chosen.currency}."
            if not self.is_bound:
                self.initial["currency"] = chosen.currency
            typed = str(self.data.get("currency") or "").strip().upper() if self.is_bound else chosen.currency
            if typed in ("", chosen.currency):
                currency.widget.attrs["readonly"] = True
        if not self.is_bound and "currency" not in self.initial:
            self.initial["currency"] = settings.LEDGERDESK_DEFAULT_CURRENCY

    def chosen_customer(self) -> Customer | None:
        """The customer picked so far (posted, or given as `initial`), or None."""
        raw = self.data.get("customer") if self.is_bound else self.initial.get("customer")
        if isinstance(raw, Customer) or raw in (None, ""):
            return raw or None
        try:
            return self.fields["customer"].to_python(raw)
        except forms.ValidationError:
            return None


class AssignForm(forms.Form):
    customer = CustomerPickerField(queryset=Customer.objects.none(), label="Assign to")

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customer_choices().filter(currency=currency)
        self.fields["customer"].widget.options_query = {"currency": currency}
        self.fields["customer"].help_text = f"A customer paying in {currency}: code or name."


class TopUpForm(forms.Form):
    amount = AmountField(label="Top-up amount")
    remark = forms.CharField(max_length=255, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False)


class InvoiceSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Organization or invoice", max_length=120,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Organization name or INV-…"}))
    issued_from = forms.DateField(required=False, label="Issued from", widget=DateInput)
    issued_to = forms.DateField(required=False, label="Issued to", widget=DateInput)

    def filters(self) -> dict:
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {"q": data.get("q") or "", "issued_from": data.get("issued_from"),
                "issued_to": data.get("issued_to")}


class CreditNoteForm(CustomerForm):
    customer = CustomerPickerField(queryset=customer_choices())
    invoice_number = forms.CharField(max_length=32, required=False, label="Against invoice #",
                                     help_text="Leave empty for account credit.")
    amount = AmountField(label="Amount")
    reason = forms.CharField(max_length=255, help_text="Printed on the credit note.")
    issue_date = forms.DateField(label="Issue date", widget=DateInput)

    today_field = "issue_date"


class WithdrawalForm(CustomerForm):
    customer = CustomerPickerField(queryset=customer_choices())
    amount = AmountField(label="Amount")
    method = forms.ChoiceField(choices=PaymentMethod.choices, initial=PaymentMethod.BANK_TRANSFER)
    reference = forms.CharField(max_length=120, required=False)
    remark = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    paid_date = forms.DateField(label="Paid date", widget=DateInput)

    today_field = "paid_date"
