"""The portal's one format for times and dates (issue 19), the same as the audit trail's:

    {{ t.occurred_at|portal_time }}  ->  2026-12-07 14:05:09 +08:00  (the operator's time zone, named)
    {{ invoice.due_date|portal_date }}  ->  2026-12-07

CSVs give the same moments in ISO 8601 with the offset (common.times.local_time_iso). The staff pages' built-in
|local_time and |local_date (common/templatetags/pages.py) are the same format."""

from __future__ import annotations

import datetime as dt

from django import template

from common.times import local_time

register = template.Library()


@register.filter
def portal_time(value: dt.datetime | None) -> str:
    return local_time(value) if isinstance(value, dt.datetime) else ""


@register.filter
def portal_date(value: dt.date | None) -> str:
    if isinstance(value, dt.datetime):
        return local_time(value)
    return value.isoformat() if isinstance(value, dt.date) else ""
