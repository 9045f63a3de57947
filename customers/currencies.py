"""Currencies: ISO 4217 codes only, checked in one place (every form, service and model that takes a currency
uses `validate_currency` / `clean_currency`; the database checks the shape, three capital ASCII letters).

The list is ISO 4217's List One of the currencies in use (taken from Debian's iso-codes, with the 2024-25
amendments: XCG and ZWG added, HRK withdrawn), without the codes that are not money a customer is billed in
(precious metals XAU XAG XPD XPT, bond-market units XBA-XBD, XDR, XSU, XUA, the test code XTS and XXX).
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

ISO_4217 = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF",
    "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
    "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR",
    "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN",
    "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER",
    "ZAR", "ZMW", "ZWG", "ZWL",
})

CURRENCY_RE = re.compile(r"[A-Z]{3}\Z", re.ASCII)
DB_CURRENCY_REGEX = r"^[A-Z]{3}$"  # what the database's check constraints hold every stored currency to


def currency_iso(prefix: str) -> models.CheckConstraint:
    """The check constraint `<prefix>_currency_iso` of a model's `currency` column."""
    return models.CheckConstraint(condition=models.Q(currency__regex=DB_CURRENCY_REGEX), name=f"{prefix}_currency_iso")
MESSAGE = "The currency must be a three-letter ISO 4217 code, such as SGD or USD."


class CurrencyError(ValueError):
    """Not an ISO 4217 currency code; the message says so in a finance user's words."""


def clean_currency(raw: object) -> str:
    """'sgd ' -> 'SGD'; anything that is not a current ISO 4217 code raises CurrencyError."""
    code = str(raw).strip().upper() if isinstance(raw, str) else ""
    if not CURRENCY_RE.match(code):
        raise CurrencyError(MESSAGE)
    if code not in ISO_4217:
        raise CurrencyError(f"{code} is not an ISO 4217 currency code; use a code such as SGD or USD.")
    return code


def validate_currency(value: object) -> None:
    """A Django validator (forms and model fields): a stored currency is exactly an ISO 4217 code."""
    if not isinstance(value, str) or value != value.strip().upper():
        raise ValidationError(MESSAGE, code="currency")
    try:
        clean_currency(value)
    except CurrencyError as exc:
        raise ValidationError(str(exc), code="currency") from exc


class CurrencyField(forms.CharField):
    """A currency typed into a form: 'sgd' -> 'SGD', and only an ISO 4217 code passes."""

    default_validators = [validate_currency]

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off", "size": 4}))
        super().__init__(**kwargs)

    def to_python(self, value):
        return super().to_python(value).upper()
