"""Money: Decimal only, six decimal places in the database (NUMERIC(20, 6)), never a float.

The one place that quantizes, splits and formats amounts. Minor units (cents) exist only in the Stripe
gateway (finance/gateway.py).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

PLACES = 6
QUANTUM = Decimal("0.000001")
ZERO = Decimal("0")
MAX_DIGITS = 20


class MoneyError(ValueError):
    """An amount a finance user typed or an API client sent that is not a valid amount."""


def MoneyField(**kwargs) -> models.DecimalField:  # noqa: N802 - reads like a field class
    """NUMERIC(20, 6): the precision of every amount in Ledgerdesk."""
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=PLACES, **kwargs)


def quantize(value: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round to six places with an explicit rounding mode."""
    return Decimal(value).quantize(QUANTUM, rounding=rounding)


def parse_amount(raw: object, *, field: str = "Amount", allow_zero: bool = False,
                 allow_negative: bool = False) -> Decimal:
    """Turn user or API input into an exact amount, or raise MoneyError with a message a finance user
    understands. Floats are refused: they cannot hold money exactly."""
    if isinstance(raw, float):
        raise MoneyError(f"{field} must be given as a decimal string, not a floating-point number.")
    if isinstance(raw, Decimal):
        value = raw
    else:
        text = str(raw if raw is not None else "").strip().replace(",", "")
        if not text:
            raise MoneyError(f"{field} is required.")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{field} must be a number, such as 125.50.")
    if not value.is_finite():
        raise MoneyError(f"{field} must be a number, such as 125.50.")
    if value.as_tuple().exponent < -PLACES:  # type: ignore[operator]
        raise MoneyError(f"{field} can have at most {PLACES} decimal places.")
    if value == ZERO and not allow_zero:
        raise MoneyError(f"{field} must be more than zero.")
    if value < ZERO and not allow_negative:
        raise MoneyError(f"{field} must be more than zero.")
    if abs(value) >= Decimal(10) ** (MAX_DIGITS - PLACES):
        raise MoneyError(f"{field} is too large.")
    return quantize(value)


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


def side(value: Decimal) -> str:
    """CR when in the customer's favour (>= 0), DR when the customer owes."""
    return "DR" if value < ZERO else "CR"


def display_signed(value: Decimal, currency: str = "") -> str:
    """'-1,610.81544 SGD DR' / '65.979991 SGD CR'."""
    text = display(value)
    return f"{text} {currency} {side(value)}".replace("  ", " ").strip()
