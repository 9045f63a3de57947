"""{{ amount|money }} -> 1,234.50 ; {{ amount|amount_input }} -> 1234.50 (an input's value) ;
{% signed amount currency %} -> a green CR / red DR figure, zero neutral (components/_signed.html)."""

from django import template

from customers import money as m

register = template.Library()


@register.filter
def money(value):
    return m.display(value)


@register.filter
def amount_input(value):
    return m.input_value(value)


@register.inclusion_tag("components/_signed.html")
def signed(value, currency=""):
    if value is None:
        return {"shown": False}
    return {"shown": True, "amount": m.display(value), "currency": currency, "owes": value < 0,
            "zero": value == 0, "side": m.side(value)}
