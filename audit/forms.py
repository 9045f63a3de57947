"""The Audit page's filters. Every field is optional; an invalid one (a bad date) shows its error and is
left out of the filtering, so the page always lists something."""

from django import forms

from common.forms import DateInput, check_date_range

from .actors import ActorKind
from .models import AuditApp


class AuditFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=200,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Actor, object, reason…"}))
    app = forms.ChoiceField(required=False, choices=[("", "All apps"), *AuditApp.choices])
    customer = forms.CharField(required=False, max_length=200,
                               widget=forms.TextInput(attrs={"placeholder": "Id, name or code"}))
    actor = forms.CharField(required=False, max_length=150,
                            widget=forms.TextInput(attrs={"placeholder": "Username or job"}))
    actor_kind = forms.ChoiceField(required=False, label="Actor kind", choices=[("", "Any"), *ActorKind.CHOICES])
    action = forms.CharField(required=False, max_length=80,
                             widget=forms.TextInput(attrs={"placeholder": "e.g. finance.payment"}))
    date_from = forms.DateField(required=False, label="From", widget=DateInput)
    date_to = forms.DateField(required=False, label="To", widget=DateInput)

    def clean(self):
        data = super().clean()
        check_date_range(self, "date_from", "date_to")
        return data

    def filters(self) -> dict:
        """Keyword arguments for audit.selectors.audit_events from the valid fields."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = self.cleaned_data
        return {
            "search": data.get("q") or None,
            "app": data.get("app") or None,
            "customer": data.get("customer") or None,
            "actor": data.get("actor") or None,
            "actor_kind": data.get("actor_kind") or None,
            "action": data.get("action") or None,
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to") if "date_to" not in self.errors else None,
        }
