"""Gapless, unique document numbers: INV-2026-000123, CN-2026-000007."""

import re

from django.db import connection, transaction

from .models import NumberSeries

WIDTH = 6
_TAKE = "UPDATE invoices_numberseries SET last_value = last_value + 1 WHERE key = %s RETURNING last_value"
_CREATE = "INSERT INTO invoices_numberseries (key, last_value) VALUES (%s, 0) ON CONFLICT (key) DO NOTHING"
assert NumberSeries._meta.db_table == "invoices_numberseries"


def next_number(prefix: str, year: int) -> str:
    """Take the next number of the series inside the caller's transaction (the series row stays locked
    until it commits, so numbers follow commit order and a rollback gives the number back).

    One statement in the usual case: the UPDATE both locks the row and moves it on (every invoice of the
    series waits for this lock until the previous one commits, so it is kept as short as it can be). The
    first number of a year creates the row first (ON CONFLICT: two first numbers at once make one row)."""
    assert transaction.get_connection().in_atomic_block, "take a number inside the document's transaction"
    key = f"{prefix}-{year}"
    with connection.cursor() as cursor:
        cursor.execute(_TAKE, [key])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(_CREATE, [key])
            cursor.execute(_TAKE, [key])
            row = cursor.fetchone()
    return f"{key}-{row[0]:0{WIDTH}d}"


def number_pattern(prefix: str) -> re.Pattern:
    """The shape of a series' numbers as next_number writes them (INV-2026-000123), to find them in text such as
    a bank transfer's remittance ("inv 2026 000123" and "INV2026000123" too: payers rarely copy the dashes)."""
    return re.compile(rf"\b{re.escape(prefix)}[-\s/]?(\d{{4}})[-\s/]?(\d{{{WIDTH}}})\b", re.IGNORECASE)
