from django import forms

from .models import Scope


class ApiKeyFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=80,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Client name or key prefix"}))
    status = forms.ChoiceField(required=False, choices=[("", "All keys"), ("active", "Active"), ("revoked", "Revoked")])

    def filters(self) -> dict:
        if not self.is_bound or not self.is_valid():
            return {}
        return {"q": self.cleaned_data.get("q") or "", "status": self.cleaned_data.get("status") or ""}


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, label="API client", initial="telephony-platform",
                           help_text="Lower-case letters, digits, '.', '_' or '-'. The actor of every change made "
                                     "with the key.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[s.value for s in Scope])
