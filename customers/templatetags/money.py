"""{{ amount|money }} -> 1,234.50 ; {{ amount|amount_input }} -> 1234.50 (an input's value) ;
{% signed amount currency %} -> a green CR / red DR figure, zero neutral (components/_signed.html) ;
{{ customer|card_label }} -> Visa ending 4242 (a customer's saved card, a card payment's card: "" for none)."""

from django import template

from customers import money as m
from customers.models import card_label as _card_label

register = template.Library()


@register.filter
def money(value):
    return m.display(value)


@register.filter
def amount_input(value):
    return m.input_value(value)


@register.filter
def card_label(obj):
    return _card_label(obj.card_brand, obj.card_last4)


@register.inclusion_tag("components/_signed.html")
def signed(value, currency=""):
    if value is None:
        return {"shown": False}
    return {"shown": True, "amount": m.display(value), "currency": currency, "owes": value < 0,
            "zero": value == 0, "side": m.side(value)}
