"""Built-in tags and filters of every page (settings.TEMPLATES builtins):

    {% form_token %}               the hidden one-time token of a form that moves money (common/form_tokens.py)
    {{ event.occurred_at|local_time }}  ->  2026-12-07 14:05:09 +08:00  (the operator's time zone, named)
    {{ invoice.due_date|local_date }}   ->  2026-12-07  (a datetime: its date in the operator's time zone)
    {% time_zone_shown %}               ->  Asia/Singapore (UTC+08:00)

One format for times and dates on every staff and portal page."""

from __future__ import annotations

import datetime as dt

from django import template

from common import times
from common.form_tokens import FIELD, new_token

register = template.Library()


@register.inclusion_tag("components/_form_token.html")
def form_token():
    return {"name": FIELD, "token": new_token()}


@register.filter
def local_time(value: dt.datetime | None) -> str:
    return times.local_time(value) if isinstance(value, dt.datetime) else ""


@register.filter
def local_date(value: dt.date | None) -> str:
    """A date as ISO 8601; a moment's date in the operator's time zone."""
    return times.local_date(value) if isinstance(value, dt.date) else ""


@register.simple_tag
def time_zone_shown() -> str:
    """`Asia/Singapore (UTC+08:00)`: what the page says its times are (text, escaped as usual)."""
    return times.time_zone_shown()
