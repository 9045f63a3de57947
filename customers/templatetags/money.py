"""{{ amount|money }} -> 1,234.50 ; {% signed amount currency %} -> a green CR / red DR figure."""

from django import template
from django.utils.safestring import mark_safe

from common.escaping import esc
from customers import money as m

register = template.Library()


@register.filter
def money(value):
    return m.display(value)


@register.simple_tag
def signed(value, currency=""):
    if value is None:
        return ""
    # An f-string, not format_html (6 of its 9 us, and a list page shows 100 of these): only the currency can
    # hold markup (a code from the database, escaped by esc(), not conditional_escape's lazy wrapper); display()
    # is digits, ',', '.' and '-', side() is CR or DR.
    css = "dr" if value < 0 else "cr"
    return mark_safe(f'<span class="amount {css}">{m.display(value)} {esc(currency)} '
                     f"<b>{m.side(value)}</b></span>")
