"""Rows written with PostgreSQL's COPY: for an import of tens of thousands of rows in one transaction, where
`bulk_create`'s multi-row INSERT spends most of its time building and binding one parameter per value
(banking's 50,000-line statement import, bench/bank_import.py: the lines and their suggestions 2 x 7 s of
INSERTs and Django's value preparation -> about 1 s each by COPY, measured 2026-12-07).

Every column goes through the database's own checks (NOT NULL, CHECK and unique constraints, foreign keys),
as an INSERT does; what is skipped is Django's per-value preparation, so only plain values are written: the
model's attribute values as psycopg dumps them (str, int, bool, Decimal, date, aware datetime, None), a
JSONField's value as its JSON text. No signals are sent (neither does bulk_create)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connection, models, transaction


def instances(model: type[models.Model], rows: Iterable[dict]) -> list[models.Model]:
    """Unsaved instances of `model` from dicts of attribute names (`customer_id`, not `customer`), every other
    field at its default, built through Django's positional constructor (the one `Model.from_db` uses): for
    50,000 statement lines 3x quicker than keyword arguments, which resolve each name against the fields."""
    fields = model._meta.concrete_fields
    names = [f.attname for f in fields]
    result = []
    for row in rows:
        result.append(model(*[row[name] if name in row else field.get_default()
                              for name, field in zip(names, fields, strict=True)]))
    return result


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """`count` primary keys of `model` taken from its sequence in one query, in ascending order: rows written
    by copy_rows with these ids are numbered as bulk_create would have numbered them."""
    if count <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [table, model._meta.pk.column, count])
        return sorted(row[0] for row in cursor.fetchall())


def copy_rows(model: type[models.Model], objs: Iterable[models.Model], *, with_pk: bool) -> int:
    """Write `objs` (unsaved instances of `model`) with one COPY, every concrete column; `with_pk`: their
    primary keys are set (reserve_ids), else the database numbers them (and the instances keep pk None).
    Inside the caller's transaction. Returns the number of rows written."""
    assert transaction.get_connection().in_atomic_block, "copy inside a transaction"
    fields = [f for f in model._meta.concrete_fields
              if (with_pk or not f.primary_key) and not getattr(f, "generated", False)]
    json_fields = {f.attname: f.encoder for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    attnames = [f.attname for f in fields]
    written = 0
    with connection.cursor() as cursor, connection.wrap_database_errors:  # IntegrityError, as an INSERT raises
        with cursor.cursor.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN") \
                as copy:
            for obj in objs:
                row = [getattr(obj, name) for name in attnames]
                if json_fields:
                    row = [json.dumps(value, cls=json_fields[name]) if name in json_fields else value
                           for name, value in zip(attnames, row, strict=True)]
                copy.write_row(row)
                written += 1
    return written
