"""{{ amount|card_amount:currency }}: an amount a card is charged, in the currency's minor unit (2 decimals
for SGD and USD, none for JPY, 3 for KWD), as Stripe charges it; ledger amounts keep up to 6 (|money)."""

from decimal import Decimal

from django import template

from ..cards import gateway

register = template.Library()


@register.filter
def card_amount(value, currency=""):
    if value is None or value == "":
        return ""
    return gateway.display_charge(Decimal(value), str(currency))
