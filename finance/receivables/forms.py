"""The aged receivables report's filter: the day (today by default), a customer's name or code, a currency, a
bucket (only the customers with money in it)."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from common.forms import DateInput

from .selectors import BUCKETS


class AgedReceivablesForm(forms.Form):
    as_of = forms.DateField(required=False, label="As of", widget=DateInput)
    q = forms.CharField(required=False, label="Customer", max_length=120,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or code"}))
    currency = forms.CharField(required=False, max_length=3)
    bucket = forms.ChoiceField(required=False, label="Owing in", choices=[("", "Any bucket"), *BUCKETS],
                               help_text="Only the customers with money in this bucket.")

    def values(self) -> dict:
        self.is_valid() if self.is_bound else None
        data = getattr(self, "cleaned_data", {}) if self.is_bound else {}
        return {"as_of": data.get("as_of") or timezone.localdate(), "customer_q": data.get("q") or "",
                "currency": (data.get("currency") or "").upper(), "bucket": data.get("bucket") or ""}
