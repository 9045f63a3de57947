"""Aged receivables without trigger-kept tables (issue 20): finance.ReceivableCustomer and ReceivableAmount go,
with the triggers on invoices_invoice, finance_payment and customers_customer that kept them and their five
SQL functions; today's report is read from the materialized view finance_agedreceivable instead
(finance/sql/aged_receivables.sql: its current text, and the measured reason it exists), refreshed by
Celery beat every 5 minutes and on demand. It is created empty: until its first refresh the report rebuilds
today from the rows.

Reversible: backwards, the view goes, the tables come back and migrations 0007 and 0008's SQL recreates the
functions and triggers and rebuilds the rows from the invoices and payments (their finance_receivables_rebuild()).
The SQL is read from those migrations, not copied, so there is one text of it."""

from importlib import import_module

from django.db import migrations

from common.sql import load

RECEIVABLE_CUSTOMERS = import_module("finance.migrations.0007_receivable_customers")
RECEIVABLE_AMOUNTS = import_module("finance.migrations.0008_receivable_amounts")


class Migration(migrations.Migration):

    dependencies = [
        ('finance', '0015_run_now'),
        ('invoices', '0007_open_receivable_column'),
    ]

    operations = [
        # first, so that backwards the tables exist again when 0007 and 0008's SQL rebuilds them
        migrations.RunSQL("DROP FUNCTION finance_receivable_amounts_fold();\n" + RECEIVABLE_CUSTOMERS.REVERSE_SQL,
                          [RECEIVABLE_CUSTOMERS.SQL, RECEIVABLE_AMOUNTS.SQL]),
        migrations.DeleteModel(
            name='ReceivableAmount',
        ),
        migrations.DeleteModel(
            name='ReceivableCustomer',
        ),
        load("finance", "aged_receivables", reverse_sql="DROP MATERIALIZED VIEW finance_agedreceivable"),
    ]
