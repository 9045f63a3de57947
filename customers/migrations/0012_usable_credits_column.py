"""Usable credits become one stored generated column, Customer.usable_credits, that Python, the ORM and SQL
all read; the SQL function customers_usable_credits (migration 0007), which restated the rule, goes.

The customers app's SQL is now kept as its current text in customers/sql/ (ledger_guards.sql: migrations
0002 and 0005; reservations.sql: 0007 and 0009, now reading the column and locking the customer FOR NO KEY
UPDATE). From now on a change to a body is an edit of the file plus a migration that loads it again."""

import django.db.models.expressions
import django.db.models.functions.comparison
from decimal import Decimal
from django.db import migrations, models

from common.sql import load


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0011_currency_iso_check'),
        ('audit', '0005_sql_files'),
    ]

    operations = [
        migrations.AddField(
            model_name='customer',
            name='usable_credits',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('credit_limit'), '+', models.F('amount_unbilled')), '+', django.db.models.functions.comparison.Greatest('amount_due', models.Value(0))), '-', models.F('amount_reserved')), help_text='Usable credits: credit limit + expecting invoice + max(amount due, 0) - reserved credits.', output_field=models.DecimalField(decimal_places=6, default=Decimal('0'), max_digits=20)),
        ),
        load("customers", "ledger_guards"),
        load("customers", "reservations"),
        migrations.RunSQL("DROP FUNCTION customers_usable_credits(customers_customer)"),
    ]
