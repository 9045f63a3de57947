"""Times and dates as every page shows them (issues 19 and 23): one time zone, the operator's
(settings.TIME_ZONE = LEDGERDESK_OPERATOR_TIMEZONE), named by its offset on each time; dates as ISO 8601.

    local_time(at)      -> '2026-12-07 14:05:09 +08:00'
    local_date(day)     -> '2026-12-07'                  (a datetime: its date there)
    local_time_iso(at)  -> '2026-12-07T14:05:09+08:00'   (CSV)
    time_zone_shown()   -> 'Asia/Singapore (UTC+08:00)'  (what a page says its times are)"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def local_time(at: dt.datetime) -> str:
    local = timezone.localtime(at)
    return f"{local:%Y-%m-%d %H:%M:%S} {_offset(local)}"


def local_date(value: dt.date) -> str:
    """ISO 8601; a datetime gives its date in the operator's time zone."""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return value.isoformat()


def local_time_iso(at: dt.datetime) -> str:
    return timezone.localtime(at).isoformat(timespec="seconds")


def time_zone_shown() -> str:
    now = timezone.localtime()
    return f"{timezone.get_current_timezone_name()} (UTC{_offset(now)})"


def _offset(local: dt.datetime) -> str:
    return local.isoformat()[-6:]
