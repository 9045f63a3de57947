"""Remove finance.PaymentCount (issue 20): the payment list counts its payments over the index of finance
migration 0006 (status, method, received date), stopping at 10,000 (common.lists.paginate_capped, with the
figures). Drops the triggers on finance_payment, the three SQL functions and the table.

Reversible: backwards, the table comes back and migration 0009's SQL recreates the functions and triggers
and rebuilds the counts from the payments (its `SELECT finance_payment_counts_rebuild()`). The SQL is read
from 0009 itself, not copied, so there is one text of it."""

from importlib import import_module

from django.db import migrations

PAYMENT_COUNTS = import_module("finance.migrations.0009_payment_counts")


class Migration(migrations.Migration):

    dependencies = [
        ('finance', '0012_card_payment_invoices'),
    ]

    operations = [
        # first, so that backwards the table exists again when 0009's SQL rebuilds it
        migrations.RunSQL(PAYMENT_COUNTS.REVERSE_SQL, PAYMENT_COUNTS.SQL),
        migrations.DeleteModel(
            name='PaymentCount',
        ),
    ]
