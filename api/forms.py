from django import forms

from .models import Scope


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, label="API client", initial="telephony-platform",
                           help_text="Lower-case letters, digits, '.', '_' or '-'. The actor of every change made "
                                     "with the key.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[s.value for s in Scope])
