"""What the filter forms of every app share."""

from __future__ import annotations

from django import forms


class DateInput(forms.DateInput):
    """The browser's own date picker (an ISO date, whatever the visitor's locale)."""

    input_type = "date"


REVERSED_RANGE = "reversed_range"


def check_date_range(form: forms.Form, start: str, end: str) -> None:
    """A date range's end before its start is an error on the end field (from the form's clean()), coded
    REVERSED_RANGE."""
    first, last = form.cleaned_data.get(start), form.cleaned_data.get(end)
    if first and last and first > last:
        form.add_error(end, forms.ValidationError("The end date is before the start date.", code=REVERSED_RANGE))
