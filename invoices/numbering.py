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


# Number the given invoices still without one, in id order (the order the chunk issued them), with the next
# numbers of the series: one statement that moves the series by their count (locking its row to COMMIT, as
# next_number does) and writes every number. lpad never cuts: a seventh digit stays.
_NUMBER_MANY = """
WITH todo AS (SELECT id, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS total
                FROM invoices_invoice WHERE id = ANY(%(ids)s) AND number IS NULL),
     taken AS (UPDATE invoices_numberseries SET last_value = last_value + (SELECT count(*) FROM todo)
                WHERE key = %(key)s AND EXISTS (SELECT 1 FROM todo) RETURNING last_value)
UPDATE invoices_invoice i
   SET number = %(key)s || '-' || lpad(v.value::text, greatest(%(width)s, length(v.value::text)), '0')
  FROM (SELECT todo.id, taken.last_value - todo.total + todo.n AS value FROM todo, taken) v
 WHERE i.id = v.id
RETURNING i.id, i.number
"""


def number_invoices(prefix: str, year: int, invoice_ids: list[int]) -> dict[int, str]:
    """Give the invoices of `invoice_ids` that have no number yet the next numbers of the series, in id order,
    in one set-based statement inside the caller's transaction (the billing run's chunk: its invoices were
    inserted without a number, in parallel with other chunks; only this statement and the writes after it,
    the last before COMMIT, run one chunk at a time). Gapless and unique as next_number: the series row stays
    locked to COMMIT, and a rollback gives every number back. Returns {invoice id: number}."""
    assert transaction.get_connection().in_atomic_block, "number inside the invoices' transaction"
    if not invoice_ids:
        return {}
    key = f"{prefix}-{year}"
    params = {"ids": list(invoice_ids), "key": key, "width": WIDTH}
    with connection.cursor() as cursor:
        cursor.execute(_NUMBER_MANY, params)
        rows = cursor.fetchall()
        if not rows:
            cursor.execute(_CREATE, [key])
            cursor.execute(_NUMBER_MANY, params)
            rows = cursor.fetchall()
    return dict(rows)
