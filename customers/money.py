"""Money: Decimal only, six decimal places in the database (NUMERIC(20, 6)), never a float.

The one place that parses (parse_amount, parse_decimal: the one strict parser of typed numbers), quantizes,
splits and formats amounts, and the one form field for an amount (AmountField, also MoneyField's form field).
Minor units (cents) exist only in the Stripe gateway (finance/cards/gateway.py).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.conf import settings
from django.db import models
from django.forms.utils import pretty_name

PLACES = 6
QUANTUM = Decimal("0.000001")
ZERO = Decimal("0")
MAX_DIGITS = 20
LIMIT = Decimal(10) ** (MAX_DIGITS - PLACES)  # NUMERIC(20, 6) holds amounts below 10^14
MAX_LENGTH = 40  # characters: the longest amount, -99,999,999,999,999.999999, has 26 (leading zeros aside)

# The one accepted shape: ASCII digits, thousands separated by commas in groups of three (or not at all),
# a point before the decimals. `+`/`-` only where the caller allows a sign.
_AMOUNT_RE = re.compile(
    r"(?P<sign>[+-]?)"
    r"(?:(?P<whole>[1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<frac>[0-9]+))?|\.(?P<only_frac>[0-9]+))\Z",
    re.ASCII)


def amount_pattern(*, allow_zero: bool) -> str:
    """What parse_amount accepts without a sign, as one anchored regular expression (the `pattern` of the
    API's amount strings in its OpenAPI schema, so clients and contract tests know the format): the shape
    above, at most PLACES decimals, at most MAX_DIGITS - PLACES whole digits after leading zeros (the
    "too large" rule), and, unless `allow_zero`, not only zeros. Surrounding whitespace, which parse_amount
    strips, is left out. tests/customers/test_money_parsing.py proves it accepts exactly what parse_amount
    does."""
    whole = MAX_DIGITS - PLACES  # 14
    full_groups, head = divmod(whole, 3)  # 4 groups of three after a head of at most 2 digits
    grouped = (f"[1-9][0-9]{{0,2}}(?:,[0-9]{{3}}){{1,{full_groups - 1}}}"
               f"|[1-9][0-9]{{0,{head - 1}}}(?:,[0-9]{{3}}){{{full_groups}}}")
    frac = f"\\.[0-9]{{1,{PLACES}}}"
    not_zero = "" if allow_zero else "(?![0,.]*$)"
    return f"^{not_zero}(?:(?:{grouped}|0*[0-9]{{1,{whole}}})(?:{frac})?|{frac})$"


_SPECIAL = {"nan", "snan", "qnan", "inf", "infinity"}
_EXPONENT_RE = re.compile(r"[+-]?[0-9.,]*[0-9][eE][+-]?[0-9]+\Z", re.ASCII)
_COMMAS_RE = re.compile(r"[+-]?[0-9.,]*,[0-9.,]*\Z", re.ASCII)


class MoneyError(ValueError):
    """An amount a finance user typed or an API client sent that is not a valid amount."""


def quantize(value: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round to six places with an explicit rounding mode."""
    return Decimal(value).quantize(QUANTUM, rounding=rounding)


def _from_text(raw: object, field: str, allow_sign: bool) -> Decimal:
    """The exact Decimal the text says, or MoneyError saying what is wrong with it (in the order a person
    would look: empty, not ASCII digits, exponent, NaN/Infinity, commas, anything else)."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise MoneyError(f"{field} is required.")
    if len(text) > MAX_LENGTH:
        raise MoneyError(f"{field} is too long to be an amount.")
    if any(not ch.isascii() and (ch.isdigit() or ch.isnumeric()) for ch in text):
        raise MoneyError(f"{field} must be written with the digits 0-9.")
    if _EXPONENT_RE.match(text):
        raise MoneyError(f"{field} cannot be written with an exponent (such as 1e5); write the number in full.")
    if text.lstrip("+-").lower() in _SPECIAL:
        raise MoneyError(f"{field} must be a number, such as 125.50.")
    match = _AMOUNT_RE.match(text)
    if match is None:
        if _COMMAS_RE.match(text):
            raise MoneyError(f"{field} has a comma in the wrong place: commas only separate thousands "
                             "(1,234.50), and a point marks the decimals.")
        raise MoneyError(f"{field} must be a number, such as 125.50.")
    if match["sign"] and not allow_sign:
        raise MoneyError(f"{field} must be more than zero." if match["sign"] == "-"
                         else f"{field} must be a number without a sign, such as 125.50.")
    whole = (match["whole"] or "0").replace(",", "")
    frac = match["frac"] or match["only_frac"] or ""
    if len(whole.lstrip("0")) > MAX_DIGITS - PLACES:
        raise MoneyError(f"{field} is too large.")
    return Decimal(f"{match['sign']}{whole}.{frac}" if frac else f"{match['sign']}{whole}")


def parse_decimal(raw: object, *, field: str = "Amount", places: int = PLACES, allow_zero: bool = False,
                  allow_negative: bool = False, maximum: Decimal | None = None) -> Decimal:
    """The one strict parser of numbers people and machines type (amounts, quantities, rates): the exact
    value, not rounded, or MoneyError with a message a finance user understands.

    Text is ASCII digits with an optional point and at most `places` decimals; thousands separated by
    commas only in their right places ('1,234.50'); no exponent, NaN or Infinity, no other digits or
    signs; a '-' (or '+') only with `allow_negative`. A Decimal (from code) is checked the same way.
    Floats are refused: they cannot hold money exactly. The size is at most `maximum` (in absolute value)
    and always fits NUMERIC(20, 6)."""
    if isinstance(raw, float):
        raise MoneyError(f"{field} must be given as a decimal string, not a floating-point number.")
    value = raw if isinstance(raw, Decimal) else _from_text(raw, field, allow_sign=allow_negative)
    if not value.is_finite():
        raise MoneyError(f"{field} must be a number, such as 125.50.")
    if value.as_tuple().exponent < -places:  # type: ignore[operator]
        raise MoneyError(f"{field} can have at most {places} decimal places." if places
                         else f"{field} must be a whole number.")
    if value < ZERO and not allow_negative:
        raise MoneyError(f"{field} must be more than zero.")
    if value == ZERO and not allow_zero:
        raise MoneyError(f"{field} must be more than zero.")
    if abs(value) >= LIMIT:
        raise MoneyError(f"{field} is too large.")
    if maximum is not None and abs(value) > maximum:
        raise MoneyError(f"{field} can be at most {display(maximum)}.")
    return value


def parse_amount(raw: object, *, field: str = "Amount", allow_zero: bool = False, allow_negative: bool = False,
                 places: int = PLACES, maximum: Decimal | None = None) -> Decimal:
    """Turn user or API input into an exact amount of six places (see parse_decimal for what is accepted),
    or raise MoneyError with a message a finance user understands. `places=2` where a card charges it."""
    return quantize(parse_decimal(raw, field=field, places=places, allow_zero=allow_zero,
                                  allow_negative=allow_negative, maximum=maximum))


def max_top_up() -> Decimal:
    """The largest top-up, auto top-up trigger amount or limit threshold (LEDGERDESK_MAX_TOP_UP)."""
    return Decimal(settings.LEDGERDESK_MAX_TOP_UP)  # config/settings.py holds its default


def max_credit_limit() -> Decimal:
    """The largest credit limit a postpaid account may be given (LEDGERDESK_MAX_CREDIT_LIMIT)."""
    return Decimal(settings.LEDGERDESK_MAX_CREDIT_LIMIT)  # config/settings.py holds its default


class AmountField(forms.CharField):
    """The one form field for an amount (staff pages, the portal, every ModelForm and Django admin through
    MoneyField.formfield): text parsed by parse_amount, kept as Decimal, never a float.

    `places` is how many decimals may be typed (2 where a card charges the amount in a two-decimal
    currency), `maximum` the largest amount accepted; both may be set after the form is built
    (`form.fields["amount"].places = 2`)."""

    def __init__(self, *, allow_zero: bool = False, allow_negative: bool = False, places: int = PLACES,
                 maximum: Decimal | None = None, **kwargs):
        self.allow_zero, self.allow_negative = allow_zero, allow_negative
        self.places, self.maximum = places, maximum
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "class": "amount-input",
                                                           "autocomplete": "off"}))
        super().__init__(**kwargs)

    def get_bound_field(self, form, field_name):
        # A message starts with the label the page shows next to the input ("Credit limit ..."), which Django
        # derives from the field's name when none is given.
        self.named = pretty_name(field_name)
        return super().get_bound_field(form, field_name)

    def prepare_value(self, value):
        """An initial Decimal (a model's NUMERIC(20,6)) shows as 1000.00, not 1000.000000; the parser still
        takes up to `places` decimals."""
        return input_value(value)

    def to_python(self, value):
        # A Decimal is a disabled field's initial value (from the database): checked as it is, since str()
        # may write it with an exponent ('1E+2').
        text = value if isinstance(value, Decimal) else super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return parse_amount(text, field=str(self.label or getattr(self, "named", "") or "Amount"), allow_zero=self.allow_zero,
                                allow_negative=self.allow_negative, places=self.places, maximum=self.maximum)
        except MoneyError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc


def amount_gt_0(prefix: str) -> models.CheckConstraint:
    """The check constraint `<prefix>_amount_gt_0` of a model's `amount` column."""
    return models.CheckConstraint(condition=models.Q(amount__gt=0), name=f"{prefix}_amount_gt_0")


class _MoneyDecimalField(models.DecimalField):
    """NUMERIC(20, 6) whose form field is the strict AmountField (Django's own DecimalField form field takes
    '1e5' and non-ASCII digits). Zero is allowed and a sign is not, unless the ModelForm says otherwise
    (`allow_negative=True` through formfield_callback); the services still decide. Deconstructs as a plain
    DecimalField: no migration changes."""

    def formfield(self, **kwargs):
        defaults = {"form_class": AmountField, "allow_zero": True, "allow_negative": False, **kwargs}
        return models.Field.formfield(self, **defaults)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs


def MoneyField(**kwargs) -> models.DecimalField:  # noqa: N802 - reads like a field class
    """NUMERIC(20, 6): the precision of every amount in Ledgerdesk."""
    kwargs.setdefault("default", ZERO)
    return _MoneyDecimalField(max_digits=MAX_DIGITS, decimal_places=PLACES, **kwargs)


def split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` in proportion to `weights` so the parts always add up to the total exactly
    (largest remainder, as django-hordak's ratio_split)."""
    if not weights:
        return []
    weight_sum = sum(weights, ZERO)
    if weight_sum == ZERO:
        raise MoneyError("Cannot split an amount by weights that add up to zero.")
    units = int((quantize(total) / QUANTUM).to_integral_value())
    raw = [Decimal(units) * w / weight_sum for w in weights]
    floors = [int(r.to_integral_value(rounding="ROUND_FLOOR")) for r in raw]
    remainder = units - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (raw[i] - floors[i], -i), reverse=True)
    for i in order[:remainder]:
        floors[i] += 1
    return [Decimal(f) * QUANTUM for f in floors]


def display(value: Decimal | None) -> str:
    """2 decimals, or up to 6 when the value has more: 65.98 -> '65.98', 65.979991 -> '65.979991'."""
    if value is None:
        return ""
    value = quantize(value)
    two = value.quantize(Decimal("0.01"))
    shown = two if two == value else value.normalize()
    if shown.as_tuple().exponent > -2:  # type: ignore[operator]
        shown = shown.quantize(Decimal("0.01"))
    return f"{shown:,f}"


def input_value(value: object) -> object:
    """An amount as an input shows it: display() without the thousands separators (1000.00, 65.979991), not
    the database's 1000.000000. Anything else (the text the user typed) is left as it is."""
    return display(value).replace(",", "") if isinstance(value, Decimal) else value


def side(value: Decimal) -> str:
    """CR when in the customer's favour (>= 0), DR when the customer owes."""
    return "DR" if value < ZERO else "CR"


def display_signed(value: Decimal, currency: str = "") -> str:
    """'-1,610.81544 SGD DR' / '65.979991 SGD CR'."""
    text = display(value)
    return f"{text} {currency} {side(value)}".replace("  ", " ").strip()
