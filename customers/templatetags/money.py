"""{{ amount|money }} -> 1,234.50 ; {% signed amount currency %} -> a green CR / red DR figure."""

from django import template
from django.utils.html import format_html

from customers import money as m

register = template.Library()


@register.filter
def money(value):
    return m.display(value)


@register.simple_tag
def signed(value, currency=""):
    if value is None:
        return ""
    css = "dr" if value < 0 else "cr"
    return format_html('<span class="amount {}">{} {} <b>{}</b></span>', css, m.display(value), currency, m.side(value))
