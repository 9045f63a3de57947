"""The dashboard's snapshot: the figures of backoffice.selectors.SNAPSHOT as their queries returned them."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from django.db import models


class FiguresEncoder(json.JSONEncoder):
    """A figure's rows to JSON exactly: a Decimal as {"decimal": "12.500000"}, a date as {"date": "2026-12-01"},
    a datetime as {"datetime": ISO 8601 with its offset}."""

    def default(self, o):
        if isinstance(o, Decimal):
            return {"decimal": str(o)}
        if isinstance(o, dt.datetime):
            return {"datetime": o.isoformat()}
        if isinstance(o, dt.date):
            return {"date": o.isoformat()}
        return super().default(o)


class FiguresDecoder(json.JSONDecoder):
    """FiguresEncoder's JSON back to the rows the queries returned (the same Decimal, date and datetime values)."""

    TYPES = {"decimal": Decimal, "date": dt.date.fromisoformat, "datetime": dt.datetime.fromisoformat}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, object_hook=self.typed, **kwargs)

    @classmethod
    def typed(cls, obj: dict):
        if len(obj) == 1:
            ((key, value),) = obj.items()
            if key in cls.TYPES and isinstance(value, str):
                return cls.TYPES[key](value)
        return obj


class DashboardSnapshot(models.Model):
    """The rows of the dashboard's scanning figures (backoffice.selectors.SNAPSHOT: which, and the measured reason
    they are kept) as the same queries returned them at `taken_at`, for the operator's day `day` (their 12 months
    end on it). Written only by backoffice.services.dashboard_refresh (Celery beat every 5 minutes, and the page's
    Refresh button), which keeps the latest only; read by backoffice.selectors.dashboard when it holds today. What
    keeps it correct: nothing between refreshes; the page says "as of" taken_at. Derived data: no audit event."""

    day = models.DateField()
    taken_at = models.DateTimeField()
    figures = models.JSONField(encoder=FiguresEncoder, decoder=FiguresDecoder)  # figure name -> its rows

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"Dashboard figures as of {self.taken_at:%Y-%m-%d %H:%M:%S %z}"
