"""The reservation functions return the customer's usable credits after the operation (reserve's OUT usable was
the figure before the hold; resolve gets an OUT usable): the API's reply states them without reading the
customer again (issue 21, bench/api_posting.py). The file drops customers_reservation_resolve before creating
it, as its result type changes."""

from django.db import migrations

from common.sql import load


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0014_customer_name_index"),
    ]

    operations = [load("customers", "reservations")]
