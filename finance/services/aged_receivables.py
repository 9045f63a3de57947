"""Refresh today's aged receivables: the materialized view finance_agedreceivable (finance/sql/aged_receivables.sql
says what it holds and why it is a cache). Called by Celery beat every 5 minutes (finance.tasks) and by the
report's Refresh button; finance.receivables.selectors.aged_receivables reads it."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction

AUDIT_EXEMPT = {
    "aged_receivables_refresh": "recomputes a report's cached figures from the rows; changes no money, setting or "
                                "document, so there is nothing to audit",
}


def aged_receivables_refresh() -> dt.datetime:
    """Recompute the view from the invoices and payments as of now, for the operator's today; returns when.
    CONCURRENTLY: the report stays readable meanwhile (the old rows until this commits); a second refresh
    waits for the first. A few hundred milliseconds at 100,000 customers (bench/README.md)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # CURRENT_DATE in the view is the operator's today: the refresh runs in their time zone, then the
        # connection's own (UTC, Django's) is put back, also when this runs inside a longer transaction
        cursor.execute("SELECT current_setting('TimeZone'), set_config('TimeZone', %s, true)", [settings.TIME_ZONE])
        (zone, _) = cursor.fetchone()
        # the first refresh fills the view created empty (CONCURRENTLY needs one already filled)
        cursor.execute("SELECT relispopulated FROM pg_class WHERE oid = 'finance_agedreceivable'::regclass")
        concurrently = "CONCURRENTLY" if cursor.fetchone()[0] else ""
        cursor.execute(f"REFRESH MATERIALIZED VIEW {concurrently} finance_agedreceivable")
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [zone])
        cursor.execute("SELECT refreshed_at FROM finance_agedreceivable WHERE customer_id = 0")
        return cursor.fetchone()[0]
