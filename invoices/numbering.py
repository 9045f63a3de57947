"""Gapless, unique document numbers: INV-2026-000123, CN-2026-000007."""

from django.db import transaction

from .models import NumberSeries

WIDTH = 6


def next_number(prefix: str, year: int) -> str:
    """Take the next number of the series inside the caller's transaction (the series row stays locked
    until it commits, so numbers follow commit order and a rollback gives the number back)."""
    assert transaction.get_connection().in_atomic_block, "take a number inside the document's transaction"
    key = f"{prefix}-{year}"
    NumberSeries.objects.get_or_create(key=key)  # ON CONFLICT-safe: unique key, retried by get_or_create
    series = NumberSeries.objects.select_for_update().get(key=key)
    series.last_value += 1
    NumberSeries.objects.filter(pk=series.pk).update(last_value=series.last_value)
    return f"{key}-{series.last_value:0{WIDTH}d}"
